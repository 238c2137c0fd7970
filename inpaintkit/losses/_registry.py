"""The loss registry: :class:`LossTerm`, the vocabulary of named inputs, and ``register_loss``.

A loss term is one *unweighted* per-image quantity. Weights live in the spec string
(``context,prior=0.003``), never inside the terms; :class:`~inpaintkit.losses.CompositeLoss`
multiplies and sums.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, ClassVar

import torch
from torch import nn

from ..utils.registry import Registry

__all__ = ["LOSSES", "DEFAULT_WEIGHTS", "INPUTS", "LossTerm", "register_loss", "unregister_loss",
           "list_losses"]

#: The one vocabulary of named inputs a term may read. The composite loss builds each input at
#: most once per step, and only if some term ``requires`` it.
INPUTS: dict[str, str] = {
    "z": "(B, nz) latent codes",
    "y": "(B, 3, H, W) corrupted image in [-1, 1], hole pixels set to 0 (their values are never read)",
    "mask": "(B|1, 1, H, W) float {0, 1}, 1 = known",
    "g": "(B, 3, H, W) G(z)",
    "composite": "(B, 3, H, W) y' = M*y + (1-M)*G(z)",
    "d_g": "(B,) discriminator logit on G(z)",
    "d_composite": "(B,) discriminator logit on y'",
    "feat_g": "{layer: (B, C, h, w)} feature-network activations on G(z)",
    "feat_composite": "{layer: (B, C, h, w)} feature-network activations on y'",
    "logits_g": "(B, classes) feature-network logits on G(z)",
    "logits_composite": "(B, classes) feature-network logits on y'",
    "masked_g": "(B, 3, H, W) M*G(z): G(z) with the hole at 0, the value y has there",
    "feat_masked_g": "{layer: (B, C, h, w)} feature-network activations on M*G(z)",
    "logits_masked_g": "(B, classes) feature-network logits on M*G(z)",
    "feat_y": "{layer: (B, C, h, w)} feature-network activations on M*y (hole at 0), computed "
              "once per search, without gradient",
    "logits_y": "(B, classes) feature-network logits on M*y (hole at 0), computed once per "
                "search, without gradient",
}

#: Inputs that need a feature network (a classifier); see :mod:`inpaintkit.features`.
FEATURE_INPUTS = frozenset({"feat_g", "feat_composite", "logits_g", "logits_composite",
                            "feat_masked_g", "logits_masked_g", "feat_y", "logits_y"})

#: Inputs that need the discriminator.
DISCRIMINATOR_INPUTS = frozenset({"d_g", "d_composite"})


class LossTerm(nn.Module):
    """One unweighted loss term, returning a value per image.

    Subclasses set ``requires`` (the named inputs of :data:`INPUTS` they read) and implement
    ``forward(self, **inputs)``, taking the inputs they need by name and ignoring the rest
    (``**_``). They are registered with :func:`register_loss`.

    Class attributes:
        name: the registry name (set by :func:`register_loss`).
        requires: the named inputs the term reads.
        modes: words accepted bare inside the spec's brackets (``context[l2]``); they are passed
            as the constructor's ``mode`` argument. The first one is the default.
        mode_requires: ``{mode: inputs}`` for the modes that read other inputs than ``requires``
            (which describes the default mode); such a term sets ``self.requires`` from it in
            ``__init__``, so the composite builds what the chosen mode reads.
        default_weight: the weight used when the spec gives none (set by :func:`register_loss`).

    Optional hooks:
        ``prepare(y, mask) -> dict``: constants computed once per search from the (hole-zeroed)
        image and the mask; they are passed to ``forward`` as extra keyword arguments.
        ``attach(feature_net)``: called once with the feature network, for terms that read its
        layers; ``feature_layers`` then names the layers ``feat_*`` must hold.

    Shape:
        - output: ``(B,)``, one value per image, with no cross-image terms (so summing over the
          batch gives every image's latent the gradient it would get alone).
    """

    name: ClassVar[str] = ""
    requires: ClassVar[frozenset[str]] = frozenset()
    modes: ClassVar[tuple[str, ...]] = ()
    mode_requires: ClassVar[dict[str, frozenset[str]]] = {}
    default_weight: ClassVar[float] = 1.0

    @property
    def feature_layers(self) -> tuple[str, ...]:
        """Feature-network layers this term reads from ``feat_g``/``feat_composite``."""
        return ()

    def prepare(self, y: torch.Tensor, mask: torch.Tensor) -> dict[str, Any]:
        return {}

    def spec_options(self) -> dict[str, Any]:
        """The spec options that rebuild this term (its mode, and options off their defaults)."""
        mode = getattr(self, "mode", None)
        return {"mode": mode} if mode is not None else {}

    def attach(self, feature_net: nn.Module) -> None:
        return None

    def extra_repr(self) -> str:
        mode = getattr(self, "mode", None)
        return f"mode={mode!r}" if mode is not None else ""


LOSSES: Registry[type[LossTerm]] = Registry("loss")

#: Default weight of every registered term for center/left masks (calibrated; see
#: :func:`~inpaintkit._presets.default_weights_for_mask`).
DEFAULT_WEIGHTS: dict[str, float] = {}


def register_loss(name: str, *, weight: float = 1.0):
    """Class decorator registering a :class:`LossTerm` subclass under ``name``.

    Args:
        name: the name used in spec strings; letters, digits, ``_`` and ``-``.
        weight: the default weight when a spec names the term without one.

    Raises:
        KeyError: the name is already registered.
        TypeError / ValueError: not a LossTerm, unknown ``requires`` entries, or a bad weight.
    """
    if not name or not all(c.isalnum() or c in "_-" for c in name) or not name[0].isalpha():
        raise ValueError(f"loss name must start with a letter and use letters, digits, _ or -: {name!r}")
    if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
        raise ValueError(f"default weight of loss {name!r} must be a finite number >= 0, got {weight!r}")

    def wrap(cls: type[LossTerm]) -> type[LossTerm]:
        if not (isinstance(cls, type) and issubclass(cls, LossTerm)):
            raise TypeError(f"register_loss({name!r}) decorates LossTerm subclasses, got {cls!r}")
        unknown = set(cls.requires).union(*cls.mode_requires.values()) - set(INPUTS)
        if unknown:
            raise ValueError(f"loss {name!r} requires unknown inputs {sorted(unknown)}; "
                             f"the named inputs are: {', '.join(INPUTS)}")
        if not cls.requires:
            raise ValueError(f"loss {name!r} must declare the inputs it reads in `requires`")
        stray = set(cls.mode_requires) - set(cls.modes)
        if stray:
            raise ValueError(f"loss {name!r} gives mode_requires for {sorted(stray)}, which are not "
                             f"among its modes {cls.modes}")
        if cls.modes and "mode" not in inspect.signature(cls.__init__).parameters:
            raise TypeError(f"loss {name!r} declares modes {cls.modes} but its __init__ takes no `mode`")
        LOSSES.register(name)(cls)
        cls.name = name
        cls.default_weight = float(weight)
        DEFAULT_WEIGHTS[name] = float(weight)
        return cls

    return wrap


def unregister_loss(name: str) -> None:
    """Remove a registered term (tests and notebooks that register temporary terms)."""
    LOSSES.unregister(name)
    DEFAULT_WEIGHTS.pop(name, None)


def list_losses(pattern: str = "*") -> list[str]:
    """Registered loss names matching an fnmatch ``pattern``."""
    return LOSSES.list(pattern)

