"""``im``: Image Melding-style patch synthesis -- multi-scale PatchMatch plus weighted patch voting.

A simplified re-implementation of the completion loop of Darabi et al. (2012), which itself builds
on Wexler et al. (2007) and PatchMatch (Barnes et al. 2009). The hole is filled with patches copied
from the known region of the same image:

1. **Pyramid.** A Gaussian pyramid (5-tap binomial filter, factor 2) by normalised convolution
   of the known pixels only, so hole values never leak into the coarse levels. A coarse pixel is
   *known* when at least ``coarse_known`` (default 0.5) of its filter weight falls on known pixels;
   its value is then the weighted mean of those known pixels. Levels are added while the coarse
   image keeps ``min(H, W) >= 2 * patch_size`` and at least ``min_sources`` fully-known source
   windows, up to ``max_levels``. At 64x64 with 7x7 patches, a center hole gets two levels (64,
   32: at 16 the known ring is too thin for a 7x7 window), a left-half hole three (64, 32, 16), and
   a 70%-random mask one (no coarse pixel is known).
2. **Initialisation** at the coarsest level: the hole is filled smoothly from its border (onion-peel
   normalised convolution, then Jacobi smoothing with the known pixels fixed), and every target
   patch gets a random source patch.
3. **At each level, EM iterations** (``em_iters``, a few per level):

   - *PatchMatch* (``pm_iters`` rounds): every *target* window (a ``p x p`` window holding at least
     one hole pixel) keeps its best *source* window. Each round tries, for all targets at once,
     the shifted matches of its four neighbours (propagation) and then random candidates around its
     match in windows of radius ``max(Hp, Wp) * 2^-i``, ``Hp x Wp`` being the window positions
     (random search, Barnes et al.'s alpha = 1/2).
     The distance is the sum of squared differences over the ``3 p^2`` values of the current
     estimate.
   - *Voting*: each hole pixel becomes the weighted mean of the pixels that the overlapping target
     patches' matches put there, with weight ``exp(-d / (2 s))``, ``d`` the patch distance and
     ``s`` its 75th percentile over the targets (Wexler et al.'s robust weighting, without the
     spatial distance-to-border term). Known pixels are never changed.

4. **Up a level**: the completed coarse image is upsampled (bilinear) into the finer hole, and
   each target's match is upsampled (coordinates times 2, plus the target's offset within its
   parent), then refined by PatchMatch.

**Source windows.** Sources are the windows that lie fully in the known region (for a random mask
too), so that only known pixels are copied whenever such windows exist. When fewer than
``min_sources`` such windows exist at the finest level (a 70%-random mask has essentially none of
size 7: ``0.3^49``; none of size 3 either: ``0.3^9``), the search falls back to *partially-known*
windows: every window with at least ``min_known_fraction`` of its pixels known (or, if none, the
windows with the most known pixels), the identity match excluded. In the fallback each source pixel
carries a confidence: 1 where known, ``hole_source_weight`` (default 0.3) where it holds the
current estimate (which is built only from known pixels, never from ``y``'s hole). The distance is
the confidence-weighted SSD rescaled to the full patch area (``sum_i c_i (t_i - s_i)^2 * p^2 /
sum_i c_i``) and each source pixel votes with its confidence. With ``hole_source_weight = 0`` only
known pixels are compared and copied; on ten Stanford Cars 64x64 validation images with a
70%-random mask that left visible speckle and scored about 1 dB (hole PSNR) below the default.

**Speed.** Everything is vectorised with numpy over all target patches at once: patch matrices come
from ``sliding_window_view``; propagation is Jacobi-style (all targets in parallel, the match field
updated after each of the four directions) instead of the sequential scan of the original, which
trades a little per-iteration propagation distance for array speed; votes are accumulated with
``np.bincount``. No numba or compiled code is needed.

**Simplifications** against Image Melding: no gradient channels in the distance, no rotation,
scale or photometric search, no screened-Poisson final step.

References:
    S. Darabi, E. Shechtman, C. Barnes, D. B. Goldman and P. Sen, "Image Melding: Combining
    Inconsistent Images using Patch-based Synthesis", SIGGRAPH 2012.
    C. Barnes, E. Shechtman, A. Finkelstein and D. B. Goldman, "PatchMatch: A Randomized
    Correspondence Algorithm for Structural Image Editing", SIGGRAPH 2009.
    Y. Wexler, E. Shechtman and M. Irani, "Space-Time Completion of Video", IEEE TPAMI 29(3), 2007.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._common import composite_fill, prepare_inputs, register_baseline

__all__ = ["patchmatch_inpaint", "PatchMatchConfig", "patchmatch_fill"]

_BINOMIAL5 = np.array([1.0, 4.0, 6.0, 4.0, 1.0], dtype=np.float32) / 16.0


@dataclass
class PatchMatchConfig:
    """Parameters of :func:`patchmatch_fill`; see the module docstring for their role."""

    patch_size: int = 7
    em_iters: int = 4
    pm_iters: int = 3
    max_levels: int = 5
    min_sources: int = 16
    min_known_fraction: float = 0.2
    hole_source_weight: float = 0.3
    coarse_known: float = 0.5
    smooth_iters: int = 20

    def check(self) -> None:
        if self.patch_size < 1:
            raise ValueError(f"patch_size must be >= 1, got {self.patch_size}")
        for name in ("em_iters", "pm_iters", "max_levels", "min_sources"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("min_known_fraction", "coarse_known"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {v}")
        if not 0.0 <= self.hole_source_weight <= 1.0:
            raise ValueError(f"hole_source_weight must be in [0, 1], got {self.hole_source_weight}")
        if self.smooth_iters < 0:
            raise ValueError(f"smooth_iters must be >= 0, got {self.smooth_iters}")


# --- pyramid and smooth fill ----------------------------------------------------------------------

def _blur(x: np.ndarray) -> np.ndarray:
    from scipy.ndimage import correlate1d

    x = correlate1d(x, _BINOMIAL5, axis=-1, mode="mirror")
    return correlate1d(x, _BINOMIAL5, axis=-2, mode="mirror")


def _downsample(img: np.ndarray, known: np.ndarray,
                thresh: float) -> tuple[np.ndarray, np.ndarray]:
    """Blur-and-decimate by normalised convolution of the known pixels; a coarse pixel is known
    when at least ``thresh`` of its filter weight is."""
    w = known.astype(np.float32)
    num = _blur(img * w)[:, ::2, ::2]
    den = _blur(w)[::2, ::2]
    out = num / np.maximum(den, 1e-12)
    return out.astype(np.float32), den >= thresh - 1e-6


def _upsample(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(img))[None]
    return torch.nn.functional.interpolate(t, size=size, mode="bilinear",
                                           align_corners=False)[0].numpy()


def _smooth_fill(img: np.ndarray, known: np.ndarray, iters: int) -> np.ndarray:
    """Fill the hole from its border inwards (onion peel), then smooth it with the border fixed."""
    out = np.where(known, img, 0.0).astype(np.float32)
    filled = known.copy()
    while not filled.all():
        w = filled.astype(np.float32)
        den = _blur(w)
        new = ~filled & (den > 1e-6)
        num = _blur(out * w)
        out[:, new] = num[:, new] / den[new]
        filled |= new
    hole = ~known
    for _ in range(iters):
        out[:, hole] = _blur(out)[:, hole]
    return out


def _window_sum(a: np.ndarray, p: int) -> np.ndarray:
    """Sum of ``a`` over every ``p x p`` window, indexed by the window's top-left pixel."""
    s = np.pad(a.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    return s[p:, p:] - s[:-p, p:] - s[p:, :-p] + s[:-p, :-p]


def _patches(img: np.ndarray, p: int) -> np.ndarray:
    """``(C, H, W)`` -> ``(Hp * Wp, C * p * p)``, row = window by its top-left pixel."""
    from numpy.lib.stride_tricks import sliding_window_view

    c = img.shape[0]
    v = sliding_window_view(img, (p, p), axis=(1, 2))  # (C, Hp, Wp, p, p)
    return np.ascontiguousarray(v.transpose(1, 2, 0, 3, 4)).reshape(-1, c * p * p)


# --- one level ------------------------------------------------------------------------------------

class _Level:
    """Targets, sources and the nearest-neighbour field at one pyramid level."""

    def __init__(self, known: np.ndarray, p: int, cfg: PatchMatchConfig, rng: np.random.Generator,
                 channels: int):
        self.h, self.w = known.shape
        self.p, self.p2 = p, p * p
        self.hp, self.wp = self.h - p + 1, self.w - p + 1
        self.known = known
        self.vote_weight = (known * (1 - cfg.hole_source_weight) + cfg.hole_source_weight).ravel()
        self.rng = rng
        n_known = _window_sum(known, p)
        target = n_known < self.p2
        self.ty, self.tx = np.nonzero(target)
        self.tidx = self.ty * self.wp + self.tx
        full = n_known == self.p2
        self.partial = int(full.sum()) < cfg.min_sources
        if self.partial:
            src = n_known >= int(np.ceil(cfg.min_known_fraction * self.p2))
            if not src.any():
                src = n_known == n_known.max()
            hw = cfg.hole_source_weight
            mk = _patches((known * (1 - hw) + hw)[None].astype(np.float32), p)  # (Hp*Wp, p2)
            # confidence per patch value (channel-major like the patch rows), pre-scaled so that
            # the distance is rescaled to the full patch area
            scale = (self.p2 / mk.sum(1))[:, None]
            self.src_weight = (np.tile(mk, (1, channels)) * scale).astype(np.float32)
        else:
            src = full
        self.src = src
        self.sy, self.sx = np.nonzero(src)
        oy, ox = np.divmod(np.arange(self.p2), p)
        self.oy, self.ox = oy, ox
        self.q = ((self.ty[:, None] + oy) * self.w + (self.tx[:, None] + ox)).ravel()
        self.hole_flat = ~known.ravel()
        self.fy = np.zeros(len(self.ty), np.int64)
        self.fx = np.zeros(len(self.ty), np.int64)
        self.d = np.full(len(self.ty), np.inf)

    # distances ------------------------------------------------------------------------------------
    def _dist(self, sel: np.ndarray, cy: np.ndarray, cx: np.ndarray) -> np.ndarray:
        c = cy * self.wp + cx
        diff = self.pt[sel] - self.ps[c]
        if not self.partial:
            return np.einsum("ij,ij->i", diff, diff)
        diff *= diff
        return np.einsum("ij,ij->i", diff, self.src_weight[c])

    def _try(self, cy: np.ndarray, cx: np.ndarray, sel: np.ndarray | None = None) -> None:
        """Replace each target's match by the candidate where the candidate is valid and closer."""
        if sel is None:
            sel = np.arange(len(self.ty))
        ok = (cy >= 0) & (cy < self.hp) & (cx >= 0) & (cx < self.wp)
        cy, cx, sel = cy[ok], cx[ok], sel[ok]
        ok = self.src[cy, cx]
        if self.partial:
            ok &= (cy != self.ty[sel]) | (cx != self.tx[sel])
        cy, cx, sel = cy[ok], cx[ok], sel[ok]
        if not len(sel):
            return
        d = self._dist(sel, cy, cx)
        better = d < self.d[sel]
        s = sel[better]
        self.fy[s], self.fx[s], self.d[s] = cy[better], cx[better], d[better]

    def set_image(self, est: np.ndarray) -> None:
        """New estimate: rebuild the patch matrices and re-score the current matches."""
        allp = _patches(est, self.p)
        self.ps = allp
        self.pt = allp[self.tidx]
        sel = np.arange(len(self.ty))
        self.d = self._dist(sel, self.fy, self.fx)

    # initialisation -------------------------------------------------------------------------------
    def random_init(self, which: np.ndarray | None = None) -> None:
        n = len(self.ty) if which is None else len(which)
        pick = self.rng.integers(0, len(self.sy), n)
        if which is None:
            self.fy, self.fx = self.sy[pick].copy(), self.sx[pick].copy()
        else:
            self.fy[which], self.fx[which] = self.sy[pick], self.sx[pick]
        if self.partial:
            # the identity is never a valid match; move such picks one source along
            same = (self.fy == self.ty) & (self.fx == self.tx)
            if same.any() and len(self.sy) > 1:
                j = (np.searchsorted(self.sy * self.wp + self.sx,
                                     self.fy[same] * self.wp + self.fx[same]) + 1) % len(self.sy)
                self.fy[same], self.fx[same] = self.sy[j], self.sx[j]

    def init_from_coarse(self, coarse: "_Level") -> None:
        """Upsample the coarse match field; targets without a usable parent match start random."""
        grid_y = np.full((coarse.hp, coarse.wp), -1, np.int64)
        grid_x = np.full((coarse.hp, coarse.wp), -1, np.int64)
        grid_y[coarse.ty, coarse.tx] = coarse.fy
        grid_x[coarse.ty, coarse.tx] = coarse.fx
        py = np.minimum(self.ty // 2, coarse.hp - 1)
        px = np.minimum(self.tx // 2, coarse.wp - 1)
        gy, gx = grid_y[py, px], grid_x[py, px]
        has = gy >= 0
        cy = np.clip(2 * gy + (self.ty - 2 * py), 0, self.hp - 1)
        cx = np.clip(2 * gx + (self.tx - 2 * px), 0, self.wp - 1)
        ok = has & self.src[cy, cx]
        if self.partial:
            ok &= (cy != self.ty) | (cx != self.tx)
        self.random_init()
        self.fy[ok], self.fx[ok] = cy[ok], cx[ok]

    # PatchMatch -----------------------------------------------------------------------------------
    def propagate(self) -> None:
        grid_y = np.full((self.hp, self.wp), -1, np.int64)
        grid_x = np.full((self.hp, self.wp), -1, np.int64)
        for dy, dx in ((0, -1), (-1, 0), (0, 1), (1, 0)):
            grid_y[self.ty, self.tx] = self.fy
            grid_x[self.ty, self.tx] = self.fx
            ny, nx = self.ty + dy, self.tx + dx
            inside = (ny >= 0) & (ny < self.hp) & (nx >= 0) & (nx < self.wp)
            sel = np.nonzero(inside)[0]
            gy = grid_y[ny[sel], nx[sel]]
            gx = grid_x[ny[sel], nx[sel]]
            has = gy >= 0
            sel, gy, gx = sel[has], gy[has], gx[has]
            self._try(gy - dy, gx - dx, sel)

    def random_search(self) -> None:
        r = max(self.hp, self.wp)
        n = len(self.ty)
        while r >= 1:
            cy = np.clip(self.fy + self.rng.integers(-r, r + 1, n), 0, self.hp - 1)
            cx = np.clip(self.fx + self.rng.integers(-r, r + 1, n), 0, self.wp - 1)
            self._try(cy, cx)
            r //= 2

    # voting ---------------------------------------------------------------------------------------
    def vote(self, est: np.ndarray) -> np.ndarray:
        """Weighted patch voting into the hole pixels; known pixels are returned unchanged."""
        c = est.shape[0]
        finite = np.isfinite(self.d)
        s_scale = np.percentile(self.d[finite], 75) if finite.any() else 1.0
        s_scale = max(float(s_scale), 1e-4 * c * self.p2)
        wt = np.where(finite, np.exp(-np.where(finite, self.d, 0.0) / (2.0 * s_scale)), 0.0)
        s = ((self.fy[:, None] + self.oy) * self.w + (self.fx[:, None] + self.ox)).ravel()
        ww = np.repeat(wt, self.p2)
        if self.partial:
            ww = ww * self.vote_weight[s]
        n = self.h * self.w
        den = np.bincount(self.q, ww, minlength=n)
        upd = self.hole_flat & (den > 0)
        flat = est.reshape(c, -1)
        out = flat.copy()
        for ch in range(c):
            num = np.bincount(self.q, ww * flat[ch][s], minlength=n)
            out[ch, upd] = num[upd] / den[upd]
        return out.reshape(est.shape).astype(np.float32)


def _pyramid(img: np.ndarray, known: np.ndarray, p: int,
             cfg: PatchMatchConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    levels = [(img, known)]
    while len(levels) < cfg.max_levels:
        im, k = levels[-1]
        h, w = k.shape
        if min((h + 1) // 2, (w + 1) // 2) < 2 * p:
            break
        ci, ck = _downsample(im, k, cfg.coarse_known)
        if not ck.any() or ck.all():
            break
        if int((_window_sum(ck, p) == p * p).sum()) < cfg.min_sources:
            break
        levels.append((ci, ck))
    return levels


def patchmatch_fill(img: np.ndarray, known: np.ndarray, cfg: PatchMatchConfig | None = None,
                    rng: np.random.Generator | None = None) -> np.ndarray:
    """Complete one image with multi-scale PatchMatch and patch voting.

    Args:
        img: ``(C, H, W)`` float array; values under the hole are ignored.
        known: ``(H, W)`` bool, True = known; at least one known and one hole pixel.
        cfg: parameters (defaults: :class:`PatchMatchConfig`).
        rng: random generator (default: seed 0).

    Returns:
        ``(C, H, W)`` float32: ``img`` on the known pixels, the synthesised fill in the hole.
    """
    cfg = cfg or PatchMatchConfig()
    cfg.check()
    rng = rng if rng is not None else np.random.default_rng(0)
    h, w = known.shape
    p = max(1, min(cfg.patch_size, h, w))
    img = np.where(known, img, 0.0).astype(np.float32)
    levels = _pyramid(img, known, p, cfg)

    est = prev = None
    for li in range(len(levels) - 1, -1, -1):
        im, k = levels[li]
        lv = _Level(k, p, cfg, rng, channels=im.shape[0])
        if prev is None:
            est = _smooth_fill(im, k, cfg.smooth_iters)
            lv.random_init()
            first_rounds = 2 * cfg.pm_iters
        else:
            est = np.where(k, im, _upsample(est, k.shape)).astype(np.float32)
            lv.init_from_coarse(prev)
            first_rounds = cfg.pm_iters
        for it in range(cfg.em_iters):
            lv.set_image(est)
            for _ in range(first_rounds if it == 0 else cfg.pm_iters):
                lv.propagate()
                lv.random_search()
            est = lv.vote(est)
        prev = lv
    return est


@register_baseline("im")
def patchmatch_inpaint(y: torch.Tensor, mask: torch.Tensor, seed: int = 0, patch_size: int = 7,
                       em_iters: int = 4, pm_iters: int = 3, max_levels: int = 5,
                       min_sources: int = 16, min_known_fraction: float = 0.2,
                       hole_source_weight: float = 0.3, coarse_known: float = 0.5) -> torch.Tensor:
    """Image Melding-style completion: multi-scale PatchMatch + weighted patch voting (numpy).

    Runs on the CPU, one image at a time; image ``b`` of the batch uses the random generator
    seeded with ``seed + b``, so a run is reproducible. See the module docstring for the algorithm,
    the source-window rule and its fallback for random masks.

    Args:
        y: ``(B, 3, H, W)`` in [-1, 1]; the hole is never read.
        mask: ``(B|1, 1, H, W)``, 1 = known.
        seed: base seed of the random initialisation and random search.
        patch_size: side of the square patches (7, as in Image Melding).
        em_iters: search-and-vote iterations per pyramid level.
        pm_iters: PatchMatch rounds (propagation + random search) per EM iteration; the first
            iteration at the coarsest level runs twice as many.
        max_levels: pyramid levels at most.
        min_sources: fewest fully-known source windows a level needs; below it, a coarse level is
            not built and the finest level falls back to partially-known windows.
        min_known_fraction: the fallback's minimum fraction of known pixels in a source window.
        hole_source_weight: the fallback's confidence in a source pixel's current estimate
            (known pixels have 1).
        coarse_known: fraction of a coarse pixel's filter weight that must be known for it to
            count as known.

    Returns:
        ``(B, 3, H, W)`` in [-1, 1], known pixels bit-identical to ``y``.

    References:
        S. Darabi, E. Shechtman, C. Barnes, D. B. Goldman and P. Sen, "Image Melding: Combining
        Inconsistent Images using Patch-based Synthesis", SIGGRAPH 2012.
    """
    cfg = PatchMatchConfig(patch_size=patch_size, em_iters=em_iters, pm_iters=pm_iters,
                           max_levels=max_levels, min_sources=min_sources,
                           min_known_fraction=min_known_fraction,
                           hole_source_weight=hole_source_weight, coarse_known=coarse_known)
    cfg.check()
    y0, m = prepare_inputs(y, mask)
    imgs = y0.detach().to("cpu", torch.float32).numpy()
    known = m[:, 0].detach().cpu().bool().numpy()
    out = np.stack([patchmatch_fill(img, k, cfg, np.random.default_rng(seed + i))
                    for i, (img, k) in enumerate(zip(imgs, known))])
    return composite_fill(y, m, torch.from_numpy(out))
