"""Loss terms for the latent search, a registry of them, and their weighted composite.

    >>> from inpaintkit.losses import build_loss
    >>> loss = build_loss("context,prior=0.003")             # Yeh et al.
    >>> loss = build_loss("context,prior,inpaint,sem,cat", feature_net=net)   # the ETH extension
    >>> loss = build_loss("context,prior,sem[known]=auto:1,cat[known]=auto:0.3", feature_net=net)
    ...                   # classifier terms against fixed targets from the known pixels M*y

Spec strings: ``NAME[options]=WEIGHT`` entries joined by commas, parsed once into a
:class:`LossSpec` (see :func:`parse_loss_spec`). Every term is registered with
:func:`register_loss` and reads named inputs (:data:`INPUTS`). Which weight a term takes by default
on which mask is the benchmark's business (:func:`inpaintkit._presets.default_weights_for_mask`).
"""
from __future__ import annotations

from . import terms  # noqa: F401  (registers the five built-in terms)
from ._registry import (
    DEFAULT_WEIGHTS,
    DISCRIMINATOR_INPUTS,
    FEATURE_INPUTS,
    INPUTS,
    LOSSES,
    LossTerm,
    list_losses,
    register_loss,
    unregister_loss,
)
from .composite import CompositeLoss, PreparedInputs, build_loss, check_corrupted
from .spec import (
    AutoWeight,
    LossEntry,
    LossSpec,
    LossSpecError,
    describe_losses,
    format_loss_spec,
    parse_loss_spec,
)
from .terms import (
    CategoricalLoss,
    ContextLoss,
    InpaintLoss,
    PriorLoss,
    SemanticLoss,
    context_weights,
)

__all__ = [
    "LOSSES", "DEFAULT_WEIGHTS", "AutoWeight", "INPUTS", "FEATURE_INPUTS", "DISCRIMINATOR_INPUTS",
    "LossTerm", "register_loss", "unregister_loss", "list_losses", "describe_losses",
    "LossEntry", "LossSpec", "LossSpecError", "parse_loss_spec", "format_loss_spec",
    "CompositeLoss", "PreparedInputs", "build_loss", "check_corrupted",
    "ContextLoss", "PriorLoss", "InpaintLoss", "SemanticLoss", "CategoricalLoss", "context_weights",
]
