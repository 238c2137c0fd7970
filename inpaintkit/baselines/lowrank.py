"""``lowrank``: nuclear-norm matrix completion of each colour channel, by singular value
thresholding.

Each channel of each image is an ``H x W`` matrix ``M`` observed on the known set ``Omega``. SVT
(Cai, Candes and Shen 2010, Algorithm 1) solves::

    min_X  tau * ||X||_*  +  1/2 ||X||_F^2     s.t.  P_Omega(X) = P_Omega(M)

which, for large ``tau``, is the minimum-nuclear-norm completion. The iteration is::

    X_k     = D_tau(Y_{k-1})                        # soft-threshold the singular values by tau
    Y_k     = Y_{k-1} + delta * P_Omega(M - X_k)

Choices (the paper's recommendations, Section 5.1, with ``n = sqrt(H W)`` and
``p = |Omega| / (H W)``):

- ``tau = tau_factor * n`` with ``tau_factor = 5``, scaled by the RMS of the known values
  (the paper's matrices have entries of order 1; the scaling makes ``tau`` invariant to the range);
- ``delta = min(step_factor / p, max_step)`` with ``step_factor = 1.2`` and ``max_step = 1.9``:
  the paper's step, capped below 2, the bound of its convergence proof (with 70% of the pixels
  missing the uncapped step is 4, and on real photos it stalls at a worse fill);
- "kicking" start: ``Y_0 = k0 * delta * P_Omega(M)`` with
  ``k0 = ceil(tau / (delta * ||P_Omega(M)||_2))``, which skips the first iterations where
  ``D_tau(Y) = 0``;
- stop when ``||P_Omega(X_k - M)||_F / ||P_Omega(M)||_F < tol`` (default 1e-4) or after ``max_iter``
  iterations (default 500), per channel and image.

The values are completed as given, in [-1, 1] (no centring, which would add a rank-1 term). All
channels of the batch run at once with a batched ``torch.linalg.svd``; a converged matrix is frozen.
"""
from __future__ import annotations

import math

import torch

from ._common import composite_fill, prepare_inputs, register_baseline

__all__ = ["lowrank_inpaint", "svt_complete"]


@torch.no_grad()
def svt_complete(m: torch.Tensor, known: torch.Tensor, tau: torch.Tensor | float | None = None,
                 delta: torch.Tensor | float | None = None, tol: float = 1e-4,
                 max_iter: int = 500, tau_factor: float = 5.0, step_factor: float = 1.2,
                 max_step: float = 1.9) -> tuple[torch.Tensor, torch.Tensor]:
    """Singular value thresholding on a batch of matrices.

    Args:
        m: ``(N, H, W)`` observed matrices; entries where ``known`` is False are ignored.
        known: ``(N, H, W)`` bool, the observed set Omega.
        tau: threshold; default ``tau_factor * sqrt(H W) * rms(P_Omega(m))`` per matrix.
        delta: step; default ``min(step_factor * H W / |Omega|, max_step)`` per matrix.
        tol: relative residual on Omega at which a matrix stops.
        max_iter: iteration cap.

    Returns:
        ``(X, iters)``: the completed ``(N, H, W)`` matrices and the iterations each one ran.

    References:
        J.-F. Cai, E. J. Candes and Z. Shen, "A Singular Value Thresholding Algorithm for Matrix
        Completion", SIAM J. Optim. 20(4), 2010.
    """
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    n_mat, h, w = m.shape
    kf = known.to(m.dtype)
    pm = m * kf
    n_known = kf.flatten(1).sum(1)
    if (n_known == 0).any():
        raise ValueError("every matrix needs at least one observed entry")
    norm_pm = pm.flatten(1).norm(dim=1)
    shape = (n_mat, 1, 1)
    if tau is None:
        rms = (norm_pm / n_known.sqrt()).clamp_min(1e-8)
        tau = tau_factor * math.sqrt(h * w) * rms
    if delta is None:
        delta = (step_factor * (h * w) / n_known).clamp_max(max_step)
    tau = torch.as_tensor(tau, dtype=m.dtype, device=m.device).expand(n_mat).reshape(shape)
    delta = torch.as_tensor(delta, dtype=m.dtype, device=m.device).expand(n_mat).reshape(shape)

    spec = torch.linalg.matrix_norm(pm, ord=2).reshape(shape).clamp_min(1e-12)
    k0 = torch.ceil(tau / (delta * spec))
    yk = k0 * delta * pm
    x = torch.zeros_like(m)
    active = torch.ones(n_mat, dtype=torch.bool, device=m.device)
    iters = torch.zeros(n_mat, dtype=torch.long, device=m.device)
    denom = norm_pm.clamp_min(1e-12)
    for _ in range(max_iter):
        idx = active.nonzero().flatten()
        u, s, vh = torch.linalg.svd(yk[idx], full_matrices=False)
        s = (s - tau[idx].reshape(-1, 1)).clamp_min(0)
        xa = (u * s.unsqueeze(1)) @ vh
        resid = (pm[idx] - xa * kf[idx])
        x[idx] = xa
        yk[idx] = yk[idx] + delta[idx] * resid
        iters[idx] += 1
        done = resid.flatten(1).norm(dim=1) / denom[idx] < tol
        active[idx[done]] = False
        if not active.any():
            break
    return x, iters


@register_baseline("lowrank")
@torch.no_grad()
def lowrank_inpaint(y: torch.Tensor, mask: torch.Tensor, tol: float = 1e-4, max_iter: int = 500,
                    tau_factor: float = 5.0, step_factor: float = 1.2,
                    max_step: float = 1.9) -> torch.Tensor:
    """Nuclear-norm matrix completion per channel (singular value thresholding, Cai et al. 2010).

    Runs on ``y``'s device (float64 for float64 input, float32 otherwise). See the module docstring
    for ``tau``, the step and the stopping rule.

    Args:
        y: ``(B, 3, H, W)`` in [-1, 1]; the hole is never read.
        mask: ``(B|1, 1, H, W)``, 1 = known.
        tol: relative residual on the known pixels at which a channel stops.
        max_iter: iteration cap.
        tau_factor: ``tau = tau_factor * sqrt(H W) * rms(known values)``.
        step_factor: ``delta = min(step_factor * H W / (number of known pixels), max_step)``.
        max_step: the cap on the step (the convergence proof needs ``delta < 2``).

    Returns:
        ``(B, 3, H, W)`` in [-1, 1], known pixels bit-identical to ``y``.

    References:
        J.-F. Cai, E. J. Candes and Z. Shen, "A Singular Value Thresholding Algorithm for Matrix
        Completion", SIAM J. Optim. 20(4), 2010.
    """
    y0, m = prepare_inputs(y, mask)
    dtype = torch.float64 if y.dtype == torch.float64 else torch.float32
    b, c, h, w = y0.shape
    known = m.bool().expand(b, c, h, w).reshape(b * c, h, w)
    x, _ = svt_complete(y0.to(dtype).reshape(b * c, h, w), known, tol=tol, max_iter=max_iter,
                        tau_factor=tau_factor, step_factor=step_factor, max_step=max_step)
    return composite_fill(y, m, x.reshape(b, c, h, w))
