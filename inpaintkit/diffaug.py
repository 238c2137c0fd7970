"""Differentiable augmentation for GAN training (DiffAugment).

Zhao et al. train a GAN on little data by augmenting *both* real and generated images with the same
family of differentiable transforms before every discriminator call, in D's step and in G's step.
D never sees an un-augmented image, so it cannot learn the augmentations as a cue for "real", and
because each transform is differentiable, G's gradient flows through it. This module writes the
three transforms the paper recommends, from its description:

- ``color``: a random brightness shift U(-0.5, 0.5), a saturation factor U(0, 2) applied to each
  pixel's deviation from its channel mean, and a contrast factor U(0.5, 1.5) applied to the
  deviation from the image mean, each drawn per image;
- ``translation``: a random integer shift of up to 1/8 of the image side in each direction,
  zero-padded;
- ``cutout``: one square of half the image side set to zero, centred at a random pixel (so it may
  be clipped by the border).

Images are in [-1, 1], so "zero" is mid-grey, as in the paper's code for the same range. All random
numbers come from a caller-supplied CPU ``torch.Generator``: the GAN trainer passes its
per-iteration generator, which keeps ``--resume`` exact.

References:
    Zhao, Liu, Lin, Zhu, Han. Differentiable Augmentation for Data-Efficient GAN Training.
    NeurIPS 2020.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

__all__ = ["DIFFAUG_POLICIES", "parse_diffaug", "diff_augment"]


def _uniform(b: int, lo: float, hi: float, gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    # Drawn on the CPU from the caller's generator, then moved: identical on every device.
    u = torch.rand(b, 1, 1, 1, generator=gen) * (hi - lo) + lo
    return u.to(device=like.device, dtype=like.dtype)


def _color(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    x = x + _uniform(b, -0.5, 0.5, gen, x)                                 # brightness
    mean_c = x.mean(dim=1, keepdim=True)
    x = (x - mean_c) * _uniform(b, 0.0, 2.0, gen, x) + mean_c              # saturation
    mean_img = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean_img) * _uniform(b, 0.5, 1.5, gen, x) + mean_img      # contrast


def _translation(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sy, sy + 1, (b, 1), generator=gen).to(x.device)
    tx = torch.randint(-sx, sx + 1, (b, 1), generator=gen).to(x.device)
    # out[i, j] = x[i - ty, j - tx] where that is inside the image, else 0 (zero padding).
    src_y = torch.arange(h, device=x.device).unsqueeze(0) - ty             # (B, H)
    src_x = torch.arange(w, device=x.device).unsqueeze(0) - tx             # (B, W)
    valid = ((src_y >= 0) & (src_y < h)).unsqueeze(2) & ((src_x >= 0) & (src_x < w)).unsqueeze(1)
    bi = torch.arange(b, device=x.device).view(b, 1, 1)
    picked = x.permute(0, 2, 3, 1)[bi, src_y.clamp(0, h - 1).unsqueeze(2), src_x.clamp(0, w - 1).unsqueeze(1)]
    return (picked * valid.unsqueeze(3).to(x.dtype)).permute(0, 3, 1, 2)   # (B, C, H, W)


def _cutout(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h, (b, 1, 1), generator=gen).to(x.device)
    cx = torch.randint(0, w, (b, 1, 1), generator=gen).to(x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    y0, x0 = cy - ch // 2, cx - cw // 2
    hole = (ys >= y0) & (ys < y0 + ch) & (xs >= x0) & (xs < x0 + cw)      # (B, H, W)
    return x * (~hole).unsqueeze(1).to(x.dtype)


DIFFAUG_POLICIES: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "color": _color,
    "translation": _translation,
    "cutout": _cutout,
}


def parse_diffaug(policy: str | Sequence[str] | None) -> tuple[str, ...]:
    """Turn ``"color,translation,cutout"`` (or a list, or ``""``/None for none) into a checked tuple.

    Raises:
        ValueError: an unknown or repeated name; the message lists the known ones.
    """
    if policy is None:
        return ()
    names = [p.strip() for p in (policy.split(",") if isinstance(policy, str) else policy)]
    names = [p for p in names if p]
    unknown = [p for p in names if p not in DIFFAUG_POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown[0]!r}; known: {', '.join(DIFFAUG_POLICIES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"DiffAugment policy names repeat: {','.join(names)}")
    return tuple(names)


def diff_augment(x: torch.Tensor, policy: Sequence[str], generator: torch.Generator) -> torch.Tensor:
    """Apply the policy's transforms in order, with fresh random draws per image.

    Args:
        x: images in [-1, 1].
        policy: names from :data:`DIFFAUG_POLICIES`, e.g. the output of :func:`parse_diffaug`.
        generator: a CPU generator; every random number is drawn from it.

    Returns:
        The augmented images, differentiable with respect to ``x``; ``x`` itself when the policy is
        empty.

    Shape:
        x: ``(B, C, H, W)``; output: the same.
    """
    if x.dim() != 4:
        raise ValueError(f"diff_augment expects (B, C, H, W) images, got shape {tuple(x.shape)}")
    for name in policy:
        if name not in DIFFAUG_POLICIES:
            raise ValueError(f"unknown DiffAugment policy {name!r}; known: {', '.join(DIFFAUG_POLICIES)}")
        x = DIFFAUG_POLICIES[name](x, generator)
    return x
