"""Batched training augmentations for learning a classifier from scratch.

All functions take a batch ``(B, 3, H, W)`` in [-1, 1] and a ``torch.Generator``, and draw every
random number from that generator, so a seeded (or resumed) run is reproducible. They run on the
whole batch at once (one ``grid_sample`` call), which keeps them cheap next to the network.

- :func:`random_flip`: horizontal flips with probability 1/2 (the ETH recipe's only augmentation).
- :func:`random_crop`: ``"shift"`` pads by ``pad`` pixels (reflection) and crops back, i.e. a random
  translation of up to ``pad`` pixels; ``"rrc"`` is Inception-style random-resized cropping, a
  random area fraction in ``scale`` and aspect ratio in [3/4, 4/3], resized back to H x W.
- :func:`color_jitter`: random brightness, contrast and saturation factors in [1 - s, 1 + s].
- :func:`mix_batch`: mixup (Zhang et al. 2018) or CutMix (Yun et al. 2019) with a Beta(alpha, alpha)
  mixing weight; the loss becomes ``lam * CE(y_a) + (1 - lam) * CE(y_b)``.
- :func:`mask_holes`: holes of the inpainting masks (``center``, ``left``, ``random:0.7``...),
  filled with zeros (the search's ``M*y`` convention: mid-grey), a flat random colour or noise, so
  a classifier learns to name a car from its known pixels (the masked-input classifier of
  ``cat[known]``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["random_flip", "random_crop", "color_jitter", "mix_batch", "mask_holes", "hole_masks", "FILLS"]

#: How :func:`mask_holes` fills a hole: ``zero`` (0 in [-1, 1], what ``M*y`` holds in the losses),
#: ``flat`` (one random colour per image) or ``noise`` (uniform per pixel).
FILLS = ("zero", "flat", "noise")


def _u(n: int, lo: float, hi: float, g: torch.Generator | None) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def random_flip(x: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
    f = (torch.rand(x.shape[0], generator=g) < 0.5).to(x.device)
    return torch.where(f[:, None, None, None], x.flip(-1), x)


def random_crop(x: torch.Tensor, mode: str = "rrc", g: torch.Generator | None = None,
                pad: int = 4, scale: tuple[float, float] = (0.35, 1.0)) -> torch.Tensor:
    """Random translation (``"shift"``) or random resized crop (``"rrc"``); ``"none"`` is identity.

    Shape:
        ``(B, 3, H, W)`` -> ``(B, 3, H, W)``
    """
    if mode == "none":
        return x
    b, _, h, w = x.shape
    if mode == "shift":
        # exact integer translation: reflection-pad, then index each image's window
        dx = torch.randint(-pad, pad + 1, (b,), generator=g).to(x.device)
        dy = torch.randint(-pad, pad + 1, (b,), generator=g).to(x.device)
        if pad == 0:
            return x
        xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        rows = (torch.arange(h, device=x.device)[None] + pad + dy[:, None])[:, :, None]  # (B, H, 1)
        cols = (torch.arange(w, device=x.device)[None] + pad + dx[:, None])[:, None, :]  # (B, 1, W)
        bi = torch.arange(b, device=x.device)[:, None, None]
        return xp.permute(0, 2, 3, 1)[bi, rows, cols].permute(0, 3, 1, 2).contiguous()
    elif mode == "rrc":
        area = _u(b, scale[0], scale[1], g)
        logr = _u(b, math.log(3 / 4), math.log(4 / 3), g)
        sx = torch.sqrt(area * torch.exp(logr)).clamp(max=1.0)
        sy = torch.sqrt(area / torch.exp(logr)).clamp(max=1.0)
        dx = (2 * torch.rand(b, generator=g) - 1) * (1 - sx)
        dy = (2 * torch.rand(b, generator=g) - 1) * (1 - sy)
    else:
        raise ValueError(f"crop mode must be 'none', 'shift' or 'rrc', got {mode!r}")
    # rrc: one affine resampling for the whole batch
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, dx, sy, dy
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def color_jitter(x: torch.Tensor, strength: float, g: torch.Generator | None = None) -> torch.Tensor:
    """Brightness, contrast and saturation, each scaled by a factor in [1 - s, 1 + s] per image."""
    if strength <= 0:
        return x
    b = x.shape[0]
    u = (x + 1) * 0.5
    shape = (b, 1, 1, 1)
    bright = _u(b, 1 - strength, 1 + strength, g).view(shape).to(x)
    contrast = _u(b, 1 - strength, 1 + strength, g).view(shape).to(x)
    sat = _u(b, 1 - strength, 1 + strength, g).view(shape).to(x)
    u = u * bright
    gray = (0.299 * u[:, 0:1] + 0.587 * u[:, 1:2] + 0.114 * u[:, 2:3])
    u = (u - gray.mean((2, 3), keepdim=True)) * contrast + gray.mean((2, 3), keepdim=True)
    gray = (0.299 * u[:, 0:1] + 0.587 * u[:, 1:2] + 0.114 * u[:, 2:3])
    u = (u - gray) * sat + gray
    return u.clamp(0, 1) * 2 - 1


def mix_batch(x: torch.Tensor, y: torch.Tensor, mixup_alpha: float, cutmix_alpha: float,
              prob: float, g: torch.Generator | None = None
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """With probability ``prob``, mix the batch with a shuffled copy of itself.

    When both alphas are > 0, mixup or CutMix is picked with equal probability.

    Returns:
        ``(x, y_a, y_b, lam)``; the loss is ``lam * CE(., y_a) + (1 - lam) * CE(., y_b)``.
        Without mixing, ``y_b`` is ``y_a`` and ``lam`` is 1.
    """
    kinds = [k for k, a in (("mixup", mixup_alpha), ("cutmix", cutmix_alpha)) if a > 0]
    # always draw the same number of random values so the stream does not depend on the branch
    r = torch.rand(3, generator=g)
    perm = torch.randperm(x.shape[0], generator=g).to(x.device)
    if not kinds or float(r[0]) >= prob:
        return x, y, y, 1.0
    kind = kinds[int(float(r[1]) * len(kinds)) % len(kinds)]
    alpha = mixup_alpha if kind == "mixup" else cutmix_alpha
    lam = _beta(alpha, g)
    if kind == "mixup":
        return lam * x + (1 - lam) * x[perm], y, y[perm], lam
    h, w = x.shape[-2:]
    cut = math.sqrt(1 - lam)
    ch, cw = int(h * cut), int(w * cut)
    cy, cx = int(float(r[2]) * h), int(float(torch.rand(1, generator=g)) * w)
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    x = x.clone()
    x[:, :, y0:y1, x0:x1] = x[perm][:, :, y0:y1, x0:x1]
    lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    return x, y, y[perm], lam


def _beta(alpha: float, g: torch.Generator | None) -> float:
    # Beta(a, a) from two Gammas via the generator (torch.distributions takes no generator)
    a = torch._standard_gamma(torch.full((2,), float(alpha)), generator=g)
    return float(a[0] / a.sum())


def hole_masks(specs: Sequence[str], size: int, seeds: Sequence[int]) -> torch.Tensor:
    """Masks ``(B, 1, H, W)`` (1 = known): mask ``i`` is ``specs[seeds[i] % len(specs)]`` drawn with
    seed ``seeds[i]``, so a mask is a pure function of its seed (validation masks are the same on
    every run)."""
    from inpaintkit.masks import make_mask

    return torch.cat([make_mask(specs[s % len(specs)], size, seed=int(s)) for s in seeds])


def mask_holes(x: torch.Tensor, specs: Sequence[str], prob: float, fills: Sequence[str] = FILLS,
               g: torch.Generator | None = None) -> torch.Tensor:
    """Cut inpainting holes into a random ``prob`` share of the batch and fill them.

    Each chosen image gets one of ``specs`` (any mask spec of :mod:`inpaintkit.masks`) and one of
    ``fills`` (see :data:`FILLS`), both uniformly at random; the other images stay whole, so the
    classifier keeps working on complete cars.

    Shape:
        ``(B, 3, H, W)`` -> ``(B, 3, H, W)``
    """
    if not specs or prob <= 0:
        return x
    bad = [f for f in fills if f not in FILLS]
    if bad or not fills:
        raise ValueError(f"mask fills must be among {', '.join(FILLS)}, got {list(fills)}")
    b, _, h, w = x.shape
    # a fixed number of draws per image, whatever the branch, so the stream never depends on it
    pick = torch.rand(b, generator=g) < prob
    seeds = torch.randint(0, 2 ** 31 - 1, (b,), generator=g)
    fill_idx = torch.randint(0, len(fills), (b,), generator=g)
    colour = torch.rand(b, 3, 1, 1, generator=g) * 2 - 1
    noise = torch.rand(b, 3, h, w, generator=g) * 2 - 1
    if not bool(pick.any()):
        return x
    idx = pick.nonzero().flatten()
    m = hole_masks(specs, h, [int(s) for s in seeds[idx]]).to(x)
    kinds = [fills[int(i)] for i in fill_idx[idx]]
    filler = torch.stack([torch.zeros_like(noise[0]) if k == "zero" else
                          colour[i].expand(3, h, w) if k == "flat" else noise[i]
                          for i, k in zip(idx.tolist(), kinds)]).to(x)
    x = x.clone()
    x[idx] = m * x[idx] + (1 - m) * filler
    return x
