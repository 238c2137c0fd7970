"""``tv``: total-variation inpainting solved with the Chambolle-Pock primal-dual algorithm.

Problem, for each image (the known pixels are a hard constraint, no data-fidelity weight to tune)::

    min_u  TV(u) = sum_pixels sqrt( sum_channels (D_x u)^2 + (D_y u)^2 )
    s.t.   u = y  on the known pixels

with forward differences and Neumann boundaries (the difference across the last row/column is 0;
nothing wraps). By default the colour channels are coupled in the norm ("colour TV", Blomgren and
Chan 1998), so edges line up across channels; ``coupled=False`` sums one TV per channel.

Solver (Chambolle and Pock 2011, Algorithm 1, theta = 1), with K = gradient, ||K||^2 <= 8::

    p     <- proj_{|p| <= 1}( p + sigma * grad(u_bar) )       # prox of the dual of the 2,1-norm
    u_new <- proj_{u_known = y}( u + tau * div(p) )           # prox of the constraint's indicator
    u_bar <- 2 u_new - u

with tau = sigma = 0.99 / sqrt(8), so tau * sigma * ||K||^2 < 1 and the iterates converge.

Stopping rule, per image: stop when ``||u_new - u||_2 / max(||u||_2, 1) < tol`` (norms over the
whole image; the ``max(., 1)`` keeps the rule meaningful for an almost all-zero image), or after
``max_iter`` iterations. A converged image is frozen while the rest of the batch goes on, so an
image gives the same result alone or in any batch. The iterate starts from ``y`` with the hole set
to the per-channel mean of the known pixels.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._common import composite_fill, prepare_inputs, register_baseline

__all__ = ["tv_inpaint", "grad", "div"]


def grad(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences ``(D_x u, D_y u)``, Neumann boundaries (0 across the last column/row)."""
    gx = F.pad(u[..., :, 1:] - u[..., :, :-1], (0, 1))
    gy = F.pad(u[..., 1:, :] - u[..., :-1, :], (0, 0, 0, 1))
    return gx, gy


def div(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """The negative adjoint of :func:`grad`: ``<grad u, p> = -<u, div p>``."""
    px = px[..., :, :-1]
    py = py[..., :-1, :]
    dx = F.pad(px, (0, 1)) - F.pad(px, (1, 0))
    dy = F.pad(py, (0, 0, 0, 1)) - F.pad(py, (0, 0, 1, 0))
    return dx + dy


@register_baseline("tv")
@torch.no_grad()
def tv_inpaint(y: torch.Tensor, mask: torch.Tensor, max_iter: int = 2000, tol: float = 1e-5,
               coupled: bool = True) -> torch.Tensor:
    """Total-variation inpainting (colour TV, Chambolle-Pock primal-dual), batched in torch.

    Runs on ``y``'s device, in float64 when ``y`` is float64 and float32 otherwise.

    Args:
        y: ``(B, 3, H, W)`` in [-1, 1]; the hole is never read.
        mask: ``(B|1, 1, H, W)``, 1 = known.
        max_iter: iteration cap.
        tol: relative-change tolerance of the stopping rule (see the module docstring).
        coupled: couple the colour channels in the TV norm (colour TV); False sums per-channel TV.

    Returns:
        ``(B, 3, H, W)`` in [-1, 1], known pixels bit-identical to ``y``.

    References:
        A. Chambolle and T. Pock, "A First-Order Primal-Dual Algorithm for Convex Problems with
        Applications to Imaging", J. Math. Imaging Vis. 40, 2011.
        T. F. Chan and J. Shen, "Mathematical Models for Local Nontexture Inpaintings", SIAM J.
        Appl. Math. 62(3), 2002.
    """
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    y0, m = prepare_inputs(y, mask)
    dtype = torch.float64 if y.dtype == torch.float64 else torch.float32
    y0, m = y0.to(dtype), m.to(dtype)
    known = m.bool().expand_as(y0)
    b = y0.shape[0]

    mean = (y0 * m).sum((2, 3), keepdim=True) / m.sum((2, 3), keepdim=True)
    u = torch.where(known, y0, mean.expand_as(y0))
    u_bar = u.clone()
    px, py = torch.zeros_like(u), torch.zeros_like(u)
    tau = sigma = 0.99 / math.sqrt(8.0)
    active = torch.ones(b, dtype=torch.bool, device=u.device)

    for _ in range(max_iter):
        gx, gy = grad(u_bar)
        qx, qy = px + sigma * gx, py + sigma * gy
        if coupled:
            norm = (qx.square() + qy.square()).sum(1, keepdim=True).sqrt()
        else:
            norm = (qx.square() + qy.square()).sqrt()
        scale = norm.clamp_min(1.0)
        qx, qy = qx / scale, qy / scale
        u_new = torch.where(known, y0, u + tau * div(qx, qy))

        change = (u_new - u).flatten(1).norm(dim=1)
        rel = change / u.flatten(1).norm(dim=1).clamp_min(1.0)
        a = active[:, None, None, None]
        px, py = torch.where(a, qx, px), torch.where(a, qy, py)
        u_bar = torch.where(a, 2 * u_new - u, u_bar)
        u = torch.where(a, u_new, u)
        active = active & (rel >= tol)
        if not active.any():
            break
    return composite_fill(y, m, u)
