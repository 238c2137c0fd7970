"""Masks: a seeded registry of hole generators, and the one validator every entry point uses.

Convention (SPEC.md): a mask is float {0, 1} of shape ``(B, 1, H, W)`` or ``(1, 1, H, W)``, and
**1 = known pixel**, 0 = hole.

Spec strings, as accepted by :func:`make_mask` and every ``--mask``/``--masks`` option:

    center          a centred square hole of a quarter of the area (rows/cols 16-47 at 64x64)
    left|right|top|bottom   that half missing
    half            one of the four halves, chosen by the seed
    random[:p]      each pixel missing with probability p (default 0.8; the ETH masks use 0.7)
    blocks[:n]      n random rectangles (default 4), each 1/8 to 1/2 of the side
    path/to/m.png   a binary PNG, white = known, black = hole; another size of the same aspect
                    ratio is resized (nearest); grey levels or another aspect ratio are errors
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ._registry import Registry

__all__ = ["MASKS", "register_mask", "list_masks", "make_mask", "check_mask_spec", "validate_mask",
           "parse_mask_spec", "MaskError"]

MaskFn = Callable[..., np.ndarray]
MASKS: Registry[MaskFn] = Registry("mask")


class MaskError(ValueError):
    """A mask that breaks the conventions: non-binary, no hole, no known pixel, or wrong size."""


def register_mask(name: str):
    """Register ``fn(height, width, rng, *args) -> bool array (H, W), True = known``."""
    return MASKS.register(name)


def list_masks(pattern: str = "*") -> list[str]:
    return MASKS.list(pattern)


@register_mask("center")
def center_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A centred hole of half the height and half the width (a quarter of the area)."""
    m = np.ones((h, w), bool)
    m[h // 4: h // 4 + h // 2, w // 4: w // 4 + w // 2] = False
    return m


def _half(side: str) -> MaskFn:
    def fn(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
        m = np.ones((h, w), bool)
        if side == "left":
            m[:, : w // 2] = False
        elif side == "right":
            m[:, w - w // 2:] = False
        elif side == "top":
            m[: h // 2, :] = False
        else:
            m[h - h // 2:, :] = False
        return m

    fn.__doc__ = f"The {side} half missing."
    return fn


for _side in ("left", "right", "top", "bottom"):
    register_mask(_side)(_half(_side))


@register_mask("half")
def half_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """One of left/right/top/bottom, chosen by the seed."""
    side = ("left", "right", "top", "bottom")[int(rng.integers(4))]
    return MASKS.get(side)(h, w, rng)


@register_mask("random")
def random_mask(h: int, w: int, rng: np.random.Generator, p: float = 0.8) -> np.ndarray:
    """Each pixel missing independently with probability ``p`` (default 0.8, as in Yeh et al.)."""
    if not 0.0 < p < 1.0:
        raise MaskError(f"random mask drop probability must be in (0, 1), got {p}")
    m = rng.random((h, w)) >= p
    # A degenerate draw (possible only for tiny images) is redrawn deterministically.
    while m.all() or not m.any():
        m = rng.random((h, w)) >= p
    return m


@register_mask("blocks")
def blocks_mask(h: int, w: int, rng: np.random.Generator, n: float = 4) -> np.ndarray:
    """``n`` random rectangles, each side between 1/8 and 1/2 of the image side."""
    n = int(n)
    if n < 1:
        raise MaskError(f"blocks mask needs at least one block, got {n}")
    m = np.ones((h, w), bool)
    for _ in range(n):
        bh = int(rng.integers(max(1, h // 8), max(2, h // 2) + 1))
        bw = int(rng.integers(max(1, w // 8), max(2, w // 2) + 1))
        top = int(rng.integers(0, h - bh + 1))
        left = int(rng.integers(0, w - bw + 1))
        m[top: top + bh, left: left + bw] = False
    return m


def parse_mask_spec(spec: str) -> tuple[str, list[float]]:
    """Split ``"random:0.7"`` into ``("random", [0.7])``; a ``.png`` path is returned as is."""
    spec = spec.strip()
    if spec.lower().endswith(".png") or os.sep in spec:
        return spec, []
    name, _, rest = spec.partition(":")
    MASKS.get(name)  # raises with the list of known masks
    args: list[float] = []
    for a in filter(None, rest.split(",")):
        try:
            args.append(float(a))
        except ValueError:
            raise MaskError(f"bad mask argument {a!r} in {spec!r}: expected a number") from None
    return name, args


def _read_png(path: str, h: int | None, w: int | None) -> np.ndarray:
    from PIL import Image

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"mask file not found: {p}")
    try:
        with Image.open(p) as im:
            im = im.convert("L")
            a = np.asarray(im)
    except OSError as e:
        raise MaskError(f"cannot read mask image {p}: {e}") from e
    levels = np.unique(a)
    if not (set(levels.tolist()) <= {0, 255} or set(levels.tolist()) <= {0, 1}):
        grey = [int(v) for v in levels if v not in (0, 1, 255)][:5]
        raise MaskError(f"mask image {p} is not binary: it has grey levels such as {grey}; save it "
                        f"with black (0) for the hole and white (255) for known pixels only")
    if h is None or w is None:
        return a > 0
    if a.shape != (h, w):
        if a.shape[0] * w != a.shape[1] * h:
            raise MaskError(f"mask image {p} is {a.shape[1]}x{a.shape[0]} but the images are {w}x{h} "
                            f"(another aspect ratio); draw the mask at the image size")
        # same aspect ratio: nearest-neighbour resize keeps it binary
        a = np.asarray(Image.fromarray(a).resize((w, h), Image.NEAREST))
    return a > 0


def check_mask_spec(spec: str, size: int | tuple[int, int] | None = None) -> None:
    """Validate a mask spec up front, before any model loads or any image is processed.

    A generator's arguments are tried on one mask (at ``size``, default 64x64): a bad
    ``random:1.5`` or ``blocks:0`` fails here. A PNG is read and checked for grey levels and for a
    hole (and for its size, when ``size`` is given).

    Raises:
        KeyError: an unknown mask name (listing the known ones).
        MaskError: a bad argument, a mask with no hole or no known pixel, a non-binary PNG.
        FileNotFoundError: a PNG that does not exist.
    """
    name, args = parse_mask_spec(spec)
    if name in MASKS:
        make_mask(spec, size or 64, seed=0)
        return
    if size is not None:
        make_mask(spec, size)
        return
    m = _read_png(name, None, None)
    validate_mask(torch.from_numpy(m.astype(np.float32))[None, None])


def make_mask(spec: str, size: int | tuple[int, int], seed: int = 0, batch: int = 1,
              device: str | torch.device = "cpu") -> torch.Tensor:
    """Build a validated mask batch from a spec string.

    Args:
        spec: see the module docstring.
        size: image side, or ``(H, W)``.
        seed: image ``i`` of the batch gets the mask of seed ``seed + i``, so the same image id
            gets the same mask on every run and for every method.
        batch: number of masks.

    Returns:
        Float tensor ``(batch, 1, H, W)``, 1 = known.
    """
    h, w = (size, size) if isinstance(size, int) else size
    name, args = parse_mask_spec(spec)
    if name not in MASKS:
        m = _read_png(name, h, w)
        masks = np.repeat(m[None], batch, 0)
    else:
        fn = MASKS.get(name)
        masks = np.stack([fn(h, w, np.random.default_rng(seed + i), *args) for i in range(batch)])
    out = torch.from_numpy(masks.astype(np.float32))[:, None].to(device)
    validate_mask(out, (h, w))
    return out


def validate_mask(mask: torch.Tensor, size: tuple[int, int] | None = None,
                  batch: int | None = None) -> torch.Tensor:
    """Check a mask against the conventions and return it as float.

    Args:
        mask: ``(B, 1, H, W)`` or ``(1, 1, H, W)``, values exactly 0 or 1 (bool accepted).
        size: the image's ``(H, W)``, if known.
        batch: the image batch size, if known; a mask batch of 1 broadcasts.

    Raises:
        MaskError: wrong shape or size, non-binary values, or a mask (any in the batch) with no
            hole or with no known pixel.
    """
    if not isinstance(mask, torch.Tensor):
        raise MaskError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dim() != 4 or mask.shape[1] != 1:
        raise MaskError(f"mask must have shape (B, 1, H, W), got {tuple(mask.shape)}")
    if size is not None and tuple(mask.shape[-2:]) != tuple(size):
        raise MaskError(f"mask is {mask.shape[-2]}x{mask.shape[-1]} but the image is {size[0]}x{size[1]}")
    if batch is not None and mask.shape[0] not in (1, batch):
        raise MaskError(f"mask batch {mask.shape[0]} does not match image batch {batch}")
    m = mask.float()
    if not torch.isfinite(m).all() or not ((m == 0) | (m == 1)).all():
        raise MaskError("mask must be binary (0 = hole, 1 = known); got other values")
    known = m.flatten(1).sum(1)
    n = m[0].numel()
    if (known == n).any():
        idx = int((known == n).nonzero()[0])
        raise MaskError(f"mask {idx} has no hole (every pixel is known): nothing to inpaint")
    if (known == 0).any():
        idx = int((known == 0).nonzero()[0])
        raise MaskError(f"mask {idx} has no known pixel: there is nothing to condition on")
    return m
