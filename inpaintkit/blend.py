"""Putting ``G(z_hat)`` into the hole: the plain overlay, or exact Poisson blending.

``overlay``: ``M*y + (1-M)*G(z_hat)``.

``poisson``: solve, per channel, for the hole pixels ``f`` whose discrete Laplacian matches that of
``G(z_hat)``, with the known pixels of ``y`` as Dirichlet boundary (Pérez et al. 2003, Eq. 7): for
each hole pixel ``p`` with in-image 4-neighbours ``N_p``::

    |N_p| f_p - sum_{q in N_p, q in hole} f_q = sum_{q in N_p, q known} y_q + sum_{q in N_p} (g_p - g_q)

Neighbours are 4-connected *within the image*: nothing wraps across rows or image edges (the
widely copied parosky code gets this wrong for masks touching the left or right edge). The sparse
system is factorised once per distinct mask (``scipy.sparse.linalg.splu``, a direct LU solve: exact
up to float64 round-off, not iterative-to-tolerance) and solved for every channel of every image
that shares the mask at once. Known pixels are copied from ``y`` bit for bit, and ``y``'s values
under the hole are never read.

References:
    Pérez, Gangnet, Blake. Poisson Image Editing. SIGGRAPH 2003.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ._registry import Registry
from .losses.composite import check_corrupted

__all__ = ["BLENDS", "blend", "overlay", "poisson_blend", "list_blends"]

BlendFn = Callable[..., torch.Tensor]
BLENDS: Registry[BlendFn] = Registry("blend method")


def _check(y: torch.Tensor, g: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = check_corrupted(y, mask)
    if not isinstance(g, torch.Tensor) or g.shape != y.shape:
        shape = tuple(g.shape) if isinstance(g, torch.Tensor) else type(g).__name__
        raise ValueError(f"generated images must have the shape of y {tuple(y.shape)}, got {shape}")
    if not torch.isfinite(g).all():
        raise ValueError("generated images contain NaN/inf")
    return m


@BLENDS.register("overlay")
def overlay(y: torch.Tensor, g: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The composite ``M*y + (1-M)*g``, computed with ``torch.where`` (NaN in y's hole is fine).

    Shape:
        - y, g: ``(B, 3, H, W)``; mask: ``(B|1, 1, H, W)``, 1 = known
        - output: ``(B, 3, H, W)``, known pixels bit-identical to ``y``
    """
    m = _check(y, g, mask)
    return torch.where(m > 0, y, g.to(y.dtype))


def _neighbour_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of the 4 in-image neighbours (zero padding, so nothing wraps)."""
    p = F.pad(x, (1, 1, 1, 1))
    return p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]


def _system(hole: np.ndarray):
    """The sparse LU of the hole's Laplacian system for one ``(H, W)`` bool hole map."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    h, w = hole.shape
    n = int(hole.sum())
    index = np.full((h, w), -1, dtype=np.int64)
    index[hole] = np.arange(n)
    rows, cols = [np.arange(n)], [np.arange(n)]
    degree = np.zeros((h, w), dtype=np.float64)
    # (dr, dc) neighbour offsets; slices keep every pair inside the image (no wrap-around)
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        src = (slice(max(0, -dr), h - max(0, dr)), slice(max(0, -dc), w - max(0, dc)))
        dst = (slice(max(0, dr), h - max(0, -dr)), slice(max(0, dc), w - max(0, -dc)))
        degree[src] += 1.0
        both = hole[src] & hole[dst]
        rows.append(index[src][both])
        cols.append(index[dst][both])
    vals = [degree[hole]] + [np.full(len(r), -1.0) for r in rows[1:]]
    a = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    return splu(a)


@BLENDS.register("poisson")
def poisson_blend(y: torch.Tensor, g: torch.Tensor, mask: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """Exact Poisson blending of ``g`` into the hole of ``y``, per channel, batched.

    Args:
        y: corrupted images in [-1, 1]; the hole's values are never read.
        g: the generated images, e.g. ``G(z_hat)``.
        mask: 1 = known; one mask for all images or one per image.
        clip: clamp the solved hole pixels to [-1, 1] (the solution may overshoot the range;
            OpenCV's ``seamlessClone`` saturates likewise). Known pixels are never changed.

    Returns:
        ``(B, 3, H, W)`` in ``y``'s dtype and device, known pixels bit-identical to ``y``.

    Shape:
        - y, g: ``(B, 3, H, W)``; mask: ``(B|1, 1, H, W)``

    References:
        Pérez, Gangnet, Blake. Poisson Image Editing. SIGGRAPH 2003.
    """
    m = _check(y, g, mask)
    known = m > 0
    b_img = y.shape[0]
    y_known = torch.where(known, y, torch.zeros((), dtype=y.dtype, device=y.device)).double().cpu()
    g64 = g.detach().double().cpu()
    ones = torch.ones((1, 1) + tuple(y.shape[-2:]), dtype=torch.float64)
    # Right-hand side on the whole grid: |N_p| g_p - sum_q g_q + sum_{q known} y_q
    rhs = _neighbour_sum(ones) * g64 - _neighbour_sum(g64) + _neighbour_sum(y_known)
    filled = g64.clone()
    holes = (~known).cpu().numpy()[:, 0]  # (Bm, H, W)
    if holes.shape[0] == 1:
        groups = {0: list(range(b_img))}
    else:  # factorise once per distinct mask
        groups = {}
        first: dict[bytes, int] = {}
        for i in range(b_img):
            key = np.packbits(holes[i]).tobytes()
            groups.setdefault(first.setdefault(key, i), []).append(i)
    rhs_np = rhs.numpy()
    out_np = filled.numpy()
    for rep, members in groups.items():
        hole = holes[rep]
        lu = _system(hole)
        b = rhs_np[members][:, :, hole]                       # (k, 3, n)
        k, c, n = b.shape
        sol = lu.solve(np.ascontiguousarray(b.reshape(k * c, n).T))  # (n, k*3): all channels at once
        sol = sol.T.reshape(k, c, n)
        for j, i in enumerate(members):
            out_np[i][:, hole] = sol[j]
    result = torch.from_numpy(out_np)
    if clip:
        result = result.clamp(-1.0, 1.0)
    return torch.where(known, y, result.to(device=y.device, dtype=y.dtype))


def blend(y: torch.Tensor, g: torch.Tensor, mask: torch.Tensor, method: str = "poisson",
          **kwargs) -> torch.Tensor:
    """Blend generated images into the holes with a registered method (``poisson``, ``overlay``).

    Raises:
        KeyError: unknown method (the message lists the registered ones).
    """
    return BLENDS.get(method)(y, g, mask, **kwargs)


def list_blends(pattern: str = "*") -> list[str]:
    return BLENDS.list(pattern)
