"""The latent's optimiser and its starting point.

Adam or Nesterov SGD written out on the one latent tensor (see :class:`LatentOptimizer`), and the
seeded ``U[-1, 1]`` draw (or the caller's ``z_init``) the search starts from.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from . import SearchConfig

__all__ = ["LatentOptimizer", "initial_z"]


class LatentOptimizer:
    """Adam or Nesterov SGD on the one latent tensor, with the formulas of ``torch.optim``.

    Written out (rather than ``torch.optim.Adam``) because the first ``torch.optim`` step of a
    process costs seconds of lazy imports, and because the per-step Python overhead of the
    general optimisers is comparable to a whole search step of a small model. Element-wise, so
    every row of ``z`` evolves independently of the others.
    """

    def __init__(self, z: torch.Tensor, config: SearchConfig) -> None:
        self.z, self.kind, self.step_count = z, config.optimizer, 0
        self.b1, self.b2 = (float(b) for b in config.betas)
        self.momentum, self.eps = float(config.momentum), 1e-8
        self.buf = torch.zeros_like(z)
        self.sq = torch.zeros_like(z) if self.kind == "adam" else None

    @torch.no_grad()
    def step(self, lr: float) -> None:
        grad = self.z.grad
        self.step_count += 1
        if self.kind == "adam":
            t = self.step_count
            self.buf.lerp_(grad, 1 - self.b1)
            self.sq.mul_(self.b2).addcmul_(grad, grad, value=1 - self.b2)
            denom = (self.sq.sqrt() / math.sqrt(1 - self.b2**t)).add_(self.eps)
            self.z.addcdiv_(self.buf, denom, value=-lr / (1 - self.b1**t))
        else:  # SGD, momentum, no dampening, Nesterov: g + mu * (mu * buf + g)
            if self.step_count == 1:
                self.buf.copy_(grad)
            else:
                self.buf.mul_(self.momentum).add_(grad)
            self.z.add_(grad.add(self.buf, alpha=self.momentum), alpha=-lr)


def initial_z(z_init: torch.Tensor | None, b: int, k: int, nz: int, seed: int) -> torch.Tensor:
    """The ``(b*k, nz)`` starting latents: ``z_init`` checked and clipped, else a seeded
    ``U[-1, 1]`` draw on the CPU (the same on every device)."""
    if z_init is None:
        gen = torch.Generator().manual_seed(int(seed))
        return torch.rand(b * k, nz, generator=gen) * 2 - 1
    z0 = torch.as_tensor(z_init).detach().float().cpu()
    if z0.dim() == 3 and z0.shape == (b, k, nz):
        z0 = z0.reshape(b * k, nz)
    if z0.shape != (b * k, nz):
        raise ValueError(f"z_init must have shape ({b}, {nz})" + (f", ({b}, {k}, {nz}) or ({b * k}, {nz})"
                         if k > 1 else "") + f" for {b} images and {k} restart(s), got {tuple(z0.shape)}")
    if not torch.isfinite(z0).all():
        raise ValueError("z_init contains NaN/inf")
    return z0.clamp(-1.0, 1.0)
