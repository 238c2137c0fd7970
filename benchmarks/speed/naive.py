"""The naive reference: the latent search written plainly, the way the earlier public code did.

One image at a time, a fresh ``torch.optim.Adam`` per image, and every loss term computing its
own inputs: each term calls ``G(z)`` again, ``inpaint``/``sem``/``cat`` rebuild the composite,
and ``sem`` and ``cat`` each run the classifier separately on ``G(z)`` and on ``y'``
(so four classifier forward passes per step with all five terms instead of one batched pass).
Contiguous (NCHW) fp32, no BatchNorm folding. Gradients go to ``z`` only (the networks are
frozen), as in the reference TensorFlow code (``tf.gradients(loss, z)``).

The formulas are the same as :mod:`inpaintkit.losses` (softplus forms, log-softmax KL), so the
naive loss equals the optimised one at the same ``z``; the speed suite checks this before it times
anything. The hole of ``y`` is zeroed first (``M * y`` with NaN in the hole would give NaN).
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from inpaintkit.losses import context_weights


def naive_loss(z: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, w_context: torch.Tensor,
               weights: dict[str, float], G: nn.Module, D: nn.Module | None, net: nn.Module | None,
               layers: Sequence[str]) -> torch.Tensor:
    """The weighted total for ONE image (``z`` is ``(1, nz)``), every term on its own."""
    total = torch.zeros(())
    if "context" in weights:
        g = G(z)
        total = total + weights["context"] * (w_context * (g - y).abs()).sum()
    if "prior" in weights:
        g = G(z)
        total = total + weights["prior"] * (-F.softplus(D(g))).sum()  # log(1 - D(G(z)))
    if "inpaint" in weights:
        g = G(z)
        comp = mask * y + (1 - mask) * g
        total = total + weights["inpaint"] * (-F.softplus(D(comp))).sum()
    if "sem" in weights:
        g = G(z)
        comp = mask * y + (1 - mask) * g
        feat_g, _ = net(g, layers)
        feat_c, _ = net(comp, layers)
        sem = 0.0
        for name in layers:
            sem = sem + ((feat_g[name] - feat_c[name]) ** 2).sum() / (feat_c[name] ** 2).sum().clamp_min(1e-12)
        total = total + weights["sem"] * sem
    if "cat" in weights:
        g = G(z)
        comp = mask * y + (1 - mask) * g
        _, logits_g = net(g, ())
        _, logits_c = net(comp, ())
        lp, lq = F.log_softmax(logits_g, 1), F.log_softmax(logits_c, 1)
        total = total + weights["cat"] * ((lp.exp() - lq.exp()) * (lp - lq)).sum()
    return total


def naive_search(G: nn.Module, D: nn.Module | None, net: nn.Module | None, y: torch.Tensor,
                 mask: torch.Tensor, weights: dict[str, float], layers: Sequence[str] = (),
                 iters: int = 1500, lr: float = 0.01, z0: torch.Tensor | None = None,
                 on_step: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Search each image's ``z`` separately; returns ``(B, nz)``.

    Args:
        weights: ``{term: weight}`` for the terms to use (``context`` is the weighted L1).
        layers: the classifier layers of ``sem``.
        z0: starting latents ``(B, nz)``; default ``U[-1, 1]`` from the global RNG.
        on_step: called as ``on_step(image, step)`` after every step (the suite's clock).
    """
    for m in (G, D, net):
        if m is not None:
            m.eval().requires_grad_(False)
    nz = G.config.nz
    y = torch.where(mask > 0, y, torch.zeros(()))
    out = []
    for i in range(y.shape[0]):
        yi = y[i:i + 1]
        mi = mask[i:i + 1] if mask.shape[0] > 1 else mask
        w = context_weights(mi)
        z = (z0[i:i + 1].clone() if z0 is not None else torch.rand(1, nz) * 2 - 1).requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        for t in range(iters):
            opt.zero_grad()
            loss = naive_loss(z, yi, mi, w, weights, G, D, net, layers)
            loss.backward()
            opt.step()
            z.data.clamp_(-1, 1)
            if on_step is not None:
                on_step(i, t)
        out.append(z.detach())
    return torch.cat(out)


def time_naive_step(G, D, net, y, mask, weights, layers, steps: int = 4) -> list[float]:
    """Seconds of each naive step on the first image (the first step is a warm-up: dropped)."""
    stamps: list[float] = []
    t0 = time.perf_counter()
    naive_search(G, D, net, y[:1], mask[:1] if mask.shape[0] > 1 else mask, weights, layers,
                 iters=steps + 1, on_step=lambda i, t: stamps.append(time.perf_counter()))
    stamps = [t0] + stamps
    return [b - a for a, b in zip(stamps[1:], stamps[2:])]
