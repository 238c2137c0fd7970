"""Input checking and output compositing shared by every baseline.

Every baseline follows the same contract (SPEC.md conventions):

- ``y``: ``(B, 3, H, W)`` float in [-1, 1]; values under the hole are never read (they are zeroed
  before any computation, so NaN or garbage there cannot change a result);
- ``mask``: ``(B, 1, H, W)`` or ``(1, 1, H, W)`` float {0, 1}, 1 = known, checked with
  :func:`inpaintkit.masks.validate_mask`;
- the result is ``(B, 3, H, W)`` in [-1, 1], on ``y``'s device and dtype, with the known pixels
  bit-identical to ``y`` (the fill is composited with ``torch.where``, never arithmetic blending).
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import torch

from ..masks import validate_mask
from ..utils import Registry, check_images

__all__ = ["BASELINES", "register_baseline", "list_baselines", "describe_baseline",
           "baseline_options", "run_baseline", "prepare_inputs", "composite_fill"]


def prepare_inputs(y: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``(y, mask)`` and return ``(y with the hole zeroed, mask expanded to the batch)``.

    Args:
        y: the corrupted images.
        mask: the masks, 1 = known; a batch of 1 broadcasts.

    Returns:
        ``(y0, m)``: ``y0`` equals ``y`` on known pixels and 0 in the hole; ``m`` is a float
        ``(B, 1, H, W)`` mask on ``y``'s device.

    Raises:
        MaskError: a mask that :func:`~inpaintkit.masks.validate_mask` rejects.
        ValueError: a wrong image shape, NaN/inf in a known pixel, or a known pixel outside [-1, 1].
        TypeError: a non-floating-point image tensor.
    """
    check_images(y, "y")
    if not y.is_floating_point():
        raise TypeError(f"y must be a floating-point tensor in [-1, 1], got {y.dtype}")
    b, _, h, w = y.shape
    m = validate_mask(mask, (h, w), batch=b).to(y.device)
    m = m.expand(b, 1, h, w)
    known = m.bool().expand_as(y)
    y0 = torch.where(known, y, torch.zeros((), dtype=y.dtype, device=y.device))
    if not torch.isfinite(y0).all():
        raise ValueError("y has NaN or inf in known pixels (mask == 1); only the hole may hold "
                         "invalid values")
    lo, hi = float(y0.min()), float(y0.max())
    if lo < -1.0 or hi > 1.0:
        raise ValueError("y must lie in [-1, 1] on known pixels, got values in "
                         f"[{lo:.4g}, {hi:.4g}]; convert uint8 images with "
                         "inpaintkit.utils.from_uint8")
    return y0, m


def composite_fill(y: torch.Tensor, m: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """Known pixels from ``y`` (bit for bit), hole pixels from ``fill`` clamped to [-1, 1].

    Args:
        y: the original corrupted images ``(B, 3, H, W)``.
        m: the expanded mask ``(B, 1, H, W)`` returned by :func:`prepare_inputs`.
        fill: the baseline's estimate ``(B, 3, H, W)`` (any device/dtype; only its hole is used).

    Raises:
        RuntimeError: the fill has NaN/inf in the hole (a solver failure, never silently kept).
    """
    fill = fill.to(device=y.device, dtype=y.dtype)
    if fill.shape != y.shape:
        raise RuntimeError(f"baseline returned shape {tuple(fill.shape)} for input "
                           f"{tuple(y.shape)}")
    hole = ~m.bool().expand_as(y)
    if not torch.isfinite(fill[hole]).all():
        raise RuntimeError("baseline produced NaN or inf in the hole")
    return torch.where(hole, fill.clamp(-1.0, 1.0), y)


# --- the registry ---------------------------------------------------------------------------------


BaselineFn = Callable[..., torch.Tensor]
BASELINES: Registry[BaselineFn] = Registry("baseline")


def register_baseline(name: str) -> Callable[[BaselineFn], BaselineFn]:
    """Register ``fn(y, mask, **options) -> filled`` under ``name``.

    The function must follow the contract in this module's docstring; build it on
    :func:`prepare_inputs` and :func:`composite_fill` and the registry-wide tests check it the day
    it is registered. The first line of its docstring is its description in
    ``inpaintkit baselines``.
    """
    return BASELINES.register(name)


def list_baselines(pattern: str = "*") -> list[str]:
    """Registered baseline names matching an fnmatch ``pattern``, sorted."""
    return BASELINES.list(pattern)


def describe_baseline(name: str) -> str:
    """The first line of the baseline's docstring."""
    doc = inspect.getdoc(BASELINES.get(name)) or ""
    return doc.strip().splitlines()[0].replace("``", "") if doc.strip() else ""


def baseline_options(name: str) -> list[str]:
    """The keyword options a baseline accepts (everything after ``y, mask``)."""
    params = list(inspect.signature(BASELINES.get(name)).parameters.values())[2:]
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def run_baseline(name: str, y: torch.Tensor, mask: torch.Tensor, **options: Any) -> torch.Tensor:
    """Fill the hole of ``y`` with the baseline registered as ``name``.

    Options set to ``None`` are dropped so the baseline's defaults apply (as ``Registry.build``).

    Args:
        name: a name from :func:`list_baselines`.
        y: ``(B, 3, H, W)`` in [-1, 1]; the hole is never read.
        mask: ``(B|1, 1, H, W)`` float {0, 1}, 1 = known.
        **options: the baseline's keyword options (see :func:`baseline_options`), e.g. ``seed`` for
            ``im`` or ``pool`` for ``nn``.

    Returns:
        ``(B, 3, H, W)`` in [-1, 1], known pixels bit-identical to ``y``.

    Raises:
        KeyError: an unknown name (the message lists the registered ones).
        TypeError: an option the baseline does not accept (the message lists the ones it does).
    """
    fn = BASELINES.get(name)
    options = {k: v for k, v in options.items() if v is not None}
    accepted = baseline_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(f"baseline {name!r} does not take option(s) {unknown}; it takes "
                        f"{accepted or '(none)'}")
    return fn(y, mask, **options)
