"""``nn``: nearest-neighbour cut-and-paste from a pool of training images (Yeh et al.'s baseline).

For each query, the pool image closest to ``y`` on the query's known pixels (sum of squared
differences over the known pixels and the three channels) is found, and its pixels are pasted into
the hole. The search is exhaustive and vectorised: with the pool flattened to ``X (N, 3HW)``, the
known-pixel mask ``M (B, 3HW)`` and ``y`` zeroed in the hole,

    d(b, n) = sum_i M_bi (X_ni - y_bi)^2 = (X^2) M^T  -  2 X (M y)^T  +  sum_i M_bi y_bi^2

is two matrix products per chunk of the pool. An :class:`~inpaintkit.data.ArrayDataset` pool is
read as stored (uint8, NHWC) and the map to [-1, 1] is folded into those products, so a chunk costs
one conversion to float and no copy into another layout. Because the expanded form loses
precision when two candidates are almost equally close, the ``rerank`` best candidates per query
are re-scored with the direct sum of squares (in float64) before the final choice; ties go to the
lower pool index.

The pool is used as stored: an :class:`~inpaintkit.data.ArrayDataset`'s ``flip`` augmentation is
not applied (a mirrored copy of the pool can be passed as a tensor if wanted).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..utils import check_images, from_uint8
from ._common import composite_fill, prepare_inputs, register_baseline

__all__ = ["nearest_neighbour_inpaint", "nearest_neighbour_search"]


def _pool_len_size(pool: Any) -> tuple[int, tuple[int, int]]:
    from ..data import ArrayDataset

    if isinstance(pool, ArrayDataset):
        return len(pool), (pool.images.shape[1], pool.images.shape[2])
    if isinstance(pool, torch.Tensor):
        check_images(pool, "pool")
        if not pool.is_floating_point():
            raise TypeError(f"a pool tensor must be float in [-1, 1], got {pool.dtype}")
        if not torch.isfinite(pool).all():
            raise ValueError("the pool has NaN or inf values")
        return pool.shape[0], (pool.shape[2], pool.shape[3])
    raise TypeError("pool must be an ArrayDataset or a (N, 3, H, W) float tensor in [-1, 1], got "
                    f"{type(pool).__name__}")


def _pool_chunk(pool: Any, start: int, stop: int, device: torch.device,
                dtype: torch.dtype) -> torch.Tensor:
    if isinstance(pool, torch.Tensor):
        return pool[start:stop].to(device=device, dtype=dtype)
    return from_uint8(pool.images[start:stop]).to(device=device, dtype=dtype)


@torch.no_grad()
def nearest_neighbour_search(y: torch.Tensor, mask: torch.Tensor, pool: Any,
                             chunk_size: int = 1024,
                             rerank: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Index and masked SSD of the pool image closest to each query on its known pixels.

    Args:
        y: ``(B, 3, H, W)`` queries in [-1, 1]; the hole is never read.
        mask: ``(B|1, 1, H, W)``, 1 = known.
        pool: an :class:`~inpaintkit.data.ArrayDataset` (uint8) or a ``(N, 3, H, W)`` float tensor
            in [-1, 1], of the queries' size.
        chunk_size: pool images per matrix product (bounds memory at ``chunk_size * 3HW`` floats).
        rerank: candidates per query re-scored exactly.

    Returns:
        ``(index, distance)``, both ``(B,)``: pool indices (long) and float64 masked SSDs.

    Raises:
        ValueError: no pool, an empty pool, or pool images of another size than ``y``.
    """
    y0, m = prepare_inputs(y, mask)
    return _search(y0, m, pool, chunk_size, rerank)


def _search(y0: torch.Tensor, m: torch.Tensor, pool: Any, chunk_size: int,
            rerank: int) -> tuple[torch.Tensor, torch.Tensor]:
    if pool is None:
        raise ValueError("the nn baseline needs a pool of training images: pass "
                         "pool=ArrayDataset or a (N, 3, H, W) tensor "
                         "(inpaintkit bench: --pool SPEC)")
    n, size = _pool_len_size(pool)
    if n == 0:
        raise ValueError("the nn pool is empty")
    if size != tuple(y0.shape[-2:]):
        raise ValueError(f"pool images are {size[0]}x{size[1]} but the queries are "
                         f"{y0.shape[-2]}x{y0.shape[-1]}; resize the pool "
                         "(build_dataset(image_size=...))")
    if chunk_size < 1 or rerank < 1:
        raise ValueError(f"chunk_size and rerank must be >= 1, got {chunk_size}, {rerank}")
    dev = y0.device
    b = y0.shape[0]
    mf = m.expand_as(y0).to(torch.float32)
    yf = y0.to(torch.float32)
    if isinstance(pool, torch.Tensor):
        scale, shift = 1.0, 0.0  # pool values are used as they are
    else:
        # uint8 pool, NHWC: compare in that layout on the raw 0..255 values, folding the map
        # x = u * 2/255 - 1 into the algebra, so a chunk costs one conversion and two products
        mf, yf = mf.permute(0, 2, 3, 1), yf.permute(0, 2, 3, 1)
        scale, shift = 2.0 / 255.0, -1.0
    mf, yf = mf.reshape(b, -1), yf.reshape(b, -1)
    # d = sum m (scale u + shift - y)^2 = scale^2 (u^2) m + 2 scale u (m r) + sum m r^2,
    # with r = shift - y
    mr = mf * (shift - yf)
    const = (mr * (shift - yf)).sum(1)
    k = min(rerank, n)
    best_d = torch.full((b, 0), float("inf"), device=dev)
    best_i = torch.zeros((b, 0), dtype=torch.long, device=dev)
    for start in range(0, n, chunk_size):
        stop = min(n, start + chunk_size)
        if isinstance(pool, torch.Tensor):
            u = pool[start:stop].to(device=dev, dtype=torch.float32).reshape(stop - start, -1)
        else:
            u = torch.from_numpy(pool.images[start:stop]).to(dev).reshape(stop - start, -1).float()
        d = (scale * scale) * ((u * u) @ mf.T) + (2.0 * scale) * (u @ mr.T) + const  # (chunk, B)
        cand_d = torch.cat([best_d, d.T], 1)
        cand_i = torch.cat([best_i, torch.arange(start, stop, device=dev).expand(b, -1)], 1)
        kk = min(k, cand_d.shape[1])
        best_d, pos = cand_d.topk(kk, dim=1, largest=False)
        best_i = cand_i.gather(1, pos)
    mf = m.expand_as(y0).reshape(b, -1).to(torch.float32)
    # exact re-scoring of the candidates, float64
    flat = best_i.flatten().cpu().numpy()
    uniq, inv = np.unique(flat, return_inverse=True)
    cand = torch.cat([_pool_chunk(pool, int(i), int(i) + 1, dev, torch.float64) for i in uniq])
    cand = cand.reshape(len(uniq), -1)[torch.as_tensor(inv, device=dev)]
    cand = cand.reshape(b, best_i.shape[1], -1)
    exact = (mf.double()[:, None] * (cand - y0.double().reshape(b, 1, -1)).square()).sum(2)
    # lowest distance, then lowest index
    order = torch.argsort(best_i, dim=1)
    exact, best_i = exact.gather(1, order), best_i.gather(1, order)
    j = exact.argmin(1)  # argmin returns the first minimum
    return best_i.gather(1, j[:, None])[:, 0], exact.gather(1, j[:, None])[:, 0]


@register_baseline("nn")
@torch.no_grad()
def nearest_neighbour_inpaint(y: torch.Tensor, mask: torch.Tensor, pool: Any = None,
                              chunk_size: int = 1024) -> torch.Tensor:
    """Nearest-neighbour cut-and-paste: the hole from the pool image closest on the known pixels.

    Args:
        y: ``(B, 3, H, W)`` in [-1, 1]; the hole is never read.
        mask: ``(B|1, 1, H, W)``, 1 = known.
        pool: the training images: an :class:`~inpaintkit.data.ArrayDataset` or a
            ``(N, 3, H, W)`` float tensor in [-1, 1] (required).
        chunk_size: pool images per matrix product.

    Returns:
        ``(B, 3, H, W)`` in [-1, 1], known pixels bit-identical to ``y``.

    References:
        R. A. Yeh, C. Chen, T. Y. Lim, A. G. Schwing, M. Hasegawa-Johnson and M. N. Do, "Semantic
        Image Inpainting with Deep Generative Models", CVPR 2017 (the nearest-neighbour baseline).
    """
    y0, m = prepare_inputs(y, mask)
    idx, _ = _search(y0, m, pool, chunk_size, rerank=8)
    fill = torch.cat([_pool_chunk(pool, int(i), int(i) + 1, y.device, y.dtype)
                      for i in idx.tolist()])
    return composite_fill(y, m, fill)
