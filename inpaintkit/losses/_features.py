"""Running the feature network (the classifier behind ``sem`` and ``cat``) for the composite loss.

Two kinds of inputs come from it:

- per step, with gradient: its outputs on whichever of ``G(z)``, ``y'`` and ``M*G(z)`` the terms
  read, stacked into one batch (:func:`run_feature_branches`);
- once per search, without gradient: its outputs on the hole-zeroed ``y`` (``M*y``), the fixed
  targets of ``sem[known]`` and ``cat[known]`` (:func:`fixed_feature_inputs`).

When no term reads the logits (``sem`` without ``cat``) and the network's ``forward`` takes a
``logits`` argument, it is called with ``logits=False``: such a network may stop after the
deepest requested layer and return ``(features, None)``.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
from typing import Any, Iterator, Sequence

import torch
from torch import nn

#: The per-step branches: (image input, features input, logits input).
FEATURE_BRANCHES = (("g", "feat_g", "logits_g"),
                    ("composite", "feat_composite", "logits_composite"),
                    ("masked_g", "feat_masked_g", "logits_masked_g"))
#: The outputs on the hole-zeroed y: fixed for a search.
FIXED_FEATURE_INPUTS = frozenset({"feat_y", "logits_y"})


def _skips_logits(net: nn.Module) -> bool:
    """Whether ``net``'s forward takes ``logits=False`` (return the features and ``None``, stopping
    after the deepest requested layer). Optional for feature networks; checked once per class."""
    cls = type(net)
    if cls not in _SKIPS_LOGITS:
        try:
            _SKIPS_LOGITS[cls] = "logits" in inspect.signature(cls.forward).parameters
        except (TypeError, ValueError):
            _SKIPS_LOGITS[cls] = False
    return _SKIPS_LOGITS[cls]


_SKIPS_LOGITS: dict[type, bool] = {}


def _chunked(net: nn.Module, chunk: int, x: torch.Tensor, layers, **kw):
    """``net(x, layers, **kw)`` computed on slices of at most ``chunk`` images, concatenated."""
    if x.shape[0] <= chunk:
        return net(x, layers, **kw)
    parts = [net(x[i:i + chunk], layers, **kw) for i in range(0, x.shape[0], chunk)]
    feats = {k: torch.cat([p[0][k] for p in parts]) for k in parts[0][0]}
    logits = None if parts[0][1] is None else torch.cat([p[1] for p in parts])
    return feats, logits


@contextlib.contextmanager
def _eval_mode(net: nn.Module) -> Iterator[None]:
    """``net`` in eval mode (no dropout, BatchNorm on running statistics), restored on exit."""
    training = [(m, m.training) for m in net.modules()]
    net.eval()
    try:
        yield
    finally:
        for m, flag in training:
            m.train(flag)


def _caller(net: nn.Module, wants_logits: bool, chunk: int | None):
    kw = {} if wants_logits or not _skips_logits(net) else {"logits": False}
    run = net if chunk is None else functools.partial(_chunked, net, chunk)
    return functools.partial(run, **kw) if kw else run


def run_feature_branches(net: nn.Module, inputs: dict[str, Any], req: frozenset[str], batch: int,
                         layers: Sequence[str], chunk: int | None = None) -> None:
    """Add the per-step feature inputs that ``req`` names to ``inputs``: one call of ``net`` on
    the images they need (``G(z)``, ``y'``, ``M*G(z)``, each ``batch`` images), stacked.

    Args:
        net: the feature network (``net(x, layers) -> (features, logits)``).
        inputs: the step's named inputs, holding the images; updated in place.
        req: the named inputs the terms read.
        batch: images per branch.
        layers: the layers to return.
        chunk: at most this many images per call (see ``CompositeLoss.evaluate``).
    """
    branches = [br for br in FEATURE_BRANCHES if req & set(br[1:])]
    if not branches:
        return
    # No term reads the logits (e.g. sem without cat): a network that can stop after the
    # deepest requested layer saves the rest of its forward pass (GoogLeNet, sem on
    # inception3b/4b: about a quarter of the step's FLOPs).
    run = _caller(net, any(br[2] in req for br in branches), chunk)
    images = [inputs[br[0]] for br in branches]
    feats, logits = run(torch.cat(images) if len(images) > 1 else images[0], layers)
    # ``split``, not slicing: the backward of a slice zero-fills a gradient of the whole stacked
    # batch per branch and adds them up (on a CPU, fresh allocations of up to 126 MB per layer and
    # step, page-faulted in); that of ``split`` concatenates the branches' gradients once.
    feats = {k: v.split(batch) for k, v in feats.items()}
    logits = None if logits is None else logits.split(batch)
    for i, (_, feat_key, logits_key) in enumerate(branches):
        inputs[feat_key] = {k: v[i] for k, v in feats.items()}
        inputs[logits_key] = None if logits is None else logits[i]


def fixed_feature_inputs(net: nn.Module, y: torch.Tensor, req: frozenset[str],
                         layers: Sequence[str], chunk: int | None = None) -> dict[str, Any]:
    """``{"feat_y": ..., "logits_y": ...}``: ``net`` on the hole-zeroed ``y``, in eval mode (the
    network's mode is restored after) and without gradient; ``{}`` when ``req`` names neither.

    Each image's outputs depend on that image alone, so the targets are the same whatever the
    batch (eval mode: BatchNorm on running statistics, no dropout).
    """
    if not req & FIXED_FEATURE_INPUTS:
        return {}
    run = _caller(net, "logits_y" in req, chunk)
    with torch.no_grad(), _eval_mode(net):
        feats, logits = run(y, layers)
    return {"feat_y": feats, "logits_y": logits}
