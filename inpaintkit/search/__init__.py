"""Batched latent search: ``z_hat = argmin_z sum_k lambda_k L_k(z | y, M)`` for many images at once.

Every image has its own mask and its own latent(s); the loss is summed over the batch before
``backward()``, and every term is per image, so each image's ``z`` follows exactly the trajectory
it would follow alone (Adam and SGD are element-wise), whatever the batch size. ``K`` restarts are
run side by side as ``B*K`` rows, and each image keeps the lowest-loss ``z`` over its restarts and
iterations.

The inner loop does no host synchronisation: per-image best tracking and the loss history stay on
the device (``torch.where`` updates), and the history is copied to the host once at the end. Only
the optional progress bar (every ``progress_every`` steps) and early stop (every ``check_every``
steps) read values back.

Speed (``SearchConfig.precision``, ``channels_last``, ``fold_bn``, ``compile``): the search runs on
private, frozen copies of the networks, prepared once per search -- eval-mode BatchNorm folded into
the convolution before it, weights in channels-last memory format, and for ``precision="bf16"``
convolution/linear weights stored in bfloat16 and the forward passes run under bf16 autocast (the
loss terms and the optimiser stay in fp32); see :mod:`inpaintkit.search._fast`. The speed
preparations never touch the caller's modules. Two things do, as for any ``nn.Module`` handed to a
search: they are moved to the search device in place (``nn.Module.to``), and they are in eval mode
with frozen parameters while the search runs (restored on return).

Layout: this module holds the public API and the loop; ``_optim.py`` the latent's optimiser and
starting point; ``_fast.py`` the prepared copies of the networks.

References:
    Yeh et al. Semantic Image Inpainting with Deep Generative Models. CVPR 2017 (Adam, 1500 steps,
    z clipped to [-1, 1]).
    The ETH extension (Nesterov momentum 0.9, lr 0.01 times 0.95 every 100 steps).
"""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from ..losses import CompositeLoss, build_loss
from ..utils import PRECISIONS, resolve_device, resolve_precision
from ._fast import fold_batchnorm, loss_evaluator
from ._optim import LatentOptimizer, initial_z

__all__ = ["SearchConfig", "SearchResult", "latent_search", "frozen", "fold_batchnorm",
           "loss_evaluator", "LatentOptimizer", "OPTIMIZERS", "PRECISIONS", "RESTART_REDUCTIONS"]

OPTIMIZERS = ("adam", "nesterov")
RESTART_REDUCTIONS = ("best", "mean")


@dataclass
class SearchConfig:
    """Settings of the latent search.

    Args:
        iters: optimisation steps (1500 in both papers).
        optimizer: ``adam`` (Yeh et al.) or ``nesterov`` (the ETH study: SGD with Nesterov
            momentum).
        lr: learning rate; ``None`` picks 0.01 for both. For Adam this is the value of the widely
            used reference implementations of Yeh et al. (the paper tunes but does not state it);
            z lives in [-1, 1], so Adam moves each coordinate by at most ~lr per step.
        betas: Adam's betas.
        momentum: Nesterov momentum (0.9, ETH).
        lr_decay: the lr is multiplied by this every ``lr_decay_every`` steps; ``None`` picks 0.95
            for ``nesterov`` (ETH) and 1.0 (no decay) for ``adam``.
        lr_decay_every: steps between decays.
        restarts: K random initialisations per image; each image keeps its best.
        restart_reduce: how the K restarts make one output. ``best`` (default, the papers): the
            ``G(z)`` of the lowest-loss ``z``. ``mean``: the pixel mean of the K restarts' ``G(z)``
            (each at its own best ``z``), a Monte-Carlo estimate of the posterior mean under the
            GAN prior, which minimises the expected squared error and so raises PSNR/SSIM, at
            the cost of a softer fill. ``z``, ``total`` and ``terms`` stay those of the best
            restart; only ``g`` and ``composite`` change.
        patience: early stop once no image has improved its loss by more than ``min_delta``
            (relative) for this many steps; ``None`` (default) runs all ``iters``.
        min_delta: relative improvement that counts as progress for early stopping.
        check_every: steps between early-stop checks (each one is a host sync).
        seed: seeds the initial ``z ~ U[-1, 1]`` (drawn on the CPU, so the same on every device).
        device: ``None`` uses the generator's device; ``"auto"`` picks CUDA when available.
        precision: ``auto`` (default), ``fp32`` or ``bf16``. ``bf16``: the networks' forward
            passes under bfloat16 autocast, with their convolution/linear weights stored in bf16
            for the search (the loss terms, the latent and the optimiser stay fp32); 1.7-2x faster
            on a 2-core AVX512-BF16 CPU (``benchmarks/results/speed-avx512.md``), and compared
            with fp32 on the Stanford Cars models in ``benchmarks/results/precision/``. ``auto``: ``bf16``
            where bf16 is native, ``fp32`` elsewhere (where bf16 is emulated and far slower).
            :attr:`SearchResult.config` records the precision that ran.
        channels_last: run the networks in channels-last memory format; ``None`` (default) turns it
            on for CPU searches, where oneDNN's convolutions and pooling are much faster with it.
            Numerically the same computation (only float round-off differs).
        fold_bn: fold eval-mode BatchNorm into the convolution it follows (in ``nn.Sequential``
            stacks and conv/bn pairs such as torchvision's ``BasicConv2d``), in the search's copy
            of the networks; then stack the three 1x1 convolutions that read a torchvision
            ``Inception`` block's input into one (:func:`~inpaintkit.search._fast.fuse_inception_branches`).
            Exact up to float round-off; checked on the first batch.
        compile: ``torch.compile`` the loss evaluation (forward and backward). Pays only for long
            searches: compiling takes minutes on a small CPU (measured in ``benchmarks/speed``).
        feature_chunk: images per call of the classifier behind ``sem``/``cat`` (it sees ``G(z)``
            and ``y'``, ``2 * B * restarts`` images a step). ``"auto"`` (default): 16 on a CPU,
            where GoogLeNet's large activations fall out of cache at bigger batches, and all at
            once on a GPU. ``None``: all at once; an int: that many. Chunking keeps the
            classifier's activations in cache on small CPUs; the gain is measurable but noisy
            (the measurements, with the machine, are in ``benchmarks/results/speed.md``).
    """

    iters: int = 1500
    optimizer: str = "adam"
    lr: float | None = None
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9
    lr_decay: float | None = None
    lr_decay_every: int = 100
    restarts: int = 1
    restart_reduce: str = "best"
    patience: int | None = None
    min_delta: float = 1e-4
    check_every: int = 25
    seed: int = 0
    device: str | None = None
    precision: str = "auto"
    channels_last: bool | None = None
    fold_bn: bool = True
    compile: bool = False
    feature_chunk: int | str | None = "auto"

    def __post_init__(self) -> None:
        if not (self.feature_chunk is None or self.feature_chunk == "auto"
                or (isinstance(self.feature_chunk, int) and self.feature_chunk >= 1)):
            raise ValueError(f"feature_chunk must be 'auto', None or a positive integer, "
                             f"got {self.feature_chunk!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.restart_reduce not in RESTART_REDUCTIONS:
            raise ValueError(f"unknown restart_reduce {self.restart_reduce!r}; choose one of "
                             f"{', '.join(RESTART_REDUCTIONS)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        if int(self.iters) != self.iters or self.iters < 0:
            raise ValueError(f"iters must be a non-negative integer, got {self.iters!r}")
        if int(self.restarts) != self.restarts or self.restarts < 1:
            raise ValueError(f"restarts must be a positive integer, got {self.restarts!r}")
        for name in ("lr", "lr_decay", "momentum", "min_delta"):
            v = getattr(self, name)
            if v is not None and (not math.isfinite(v) or v < 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {self.patience!r}")
        if self.lr_decay_every < 1 or self.check_every < 1:
            raise ValueError("lr_decay_every and check_every must be >= 1")

    @property
    def base_lr(self) -> float:
        return 0.01 if self.lr is None else float(self.lr)

    @property
    def decay(self) -> float:
        if self.lr_decay is not None:
            return float(self.lr_decay)
        return 0.95 if self.optimizer == "nesterov" else 1.0

    def lr_at(self, step: int) -> float:
        """The learning rate used at (0-based) ``step``."""
        return self.base_lr * self.decay ** (step // self.lr_decay_every)

    def feature_chunk_for(self, device: torch.device | str) -> int | None:
        """``feature_chunk`` with ``"auto"`` resolved for ``device`` (16 on CPU, None on GPU)."""
        if self.feature_chunk == "auto":
            return 16 if torch.device(device).type == "cpu" else None
        return self.feature_chunk

    def use_channels_last(self, device: torch.device | str) -> bool:
        """``channels_last``, with ``None`` resolved for ``device`` (on for CPU)."""
        if self.channels_last is not None:
            return bool(self.channels_last)
        return torch.device(device).type == "cpu"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "resolved_lr": self.base_lr, "resolved_lr_decay": self.decay}


@dataclass
class SearchResult:
    """The outcome of :func:`latent_search`, per image (restarts already reduced to the best).

    Attributes:
        z: ``(B, nz)`` the best latent of each image.
        g: ``(B, 3, H, W)`` ``G(z)``.
        composite: ``(B, 3, H, W)`` ``M*y + (1-M)*G(z)`` (the overlay; blend it with
            :func:`inpaintkit.blend.blend` for Poisson).
        total: ``(B,)`` the weighted total loss at ``z``.
        terms: ``{name: (B,)}`` the unweighted terms at ``z``.
        weights: ``{name: weight}`` of the loss (an auto weight as its
            :class:`~inpaintkit.losses.AutoWeight`).
        image_weights: ``{name: (B,)}`` the weight each image's search actually used, for every
            term (auto weights as resolved at the first step).
        saturated: ``(B,)`` the largest fraction of the image's ``z`` coordinates that sat on the
            [-1, 1] clip after any step (of its winning restart).
        history: ``{"total": (iters, B), name: (iters, B)}`` float32 arrays, the loss at every
            step along the trajectory of each image's winning restart.
        best_iter: ``(B,)`` the step at which ``z`` was reached (``iters_run`` = after the last).
        best_restart: ``(B,)`` which restart won.
        iters_run: steps actually taken (fewer than ``config.iters`` after an early stop).
        seconds: wall-clock time of the search.
        loss_spec: the loss's spec string.
        config: the search settings, resolved.
    """

    z: torch.Tensor
    g: torch.Tensor
    composite: torch.Tensor
    total: torch.Tensor
    terms: dict[str, torch.Tensor]
    weights: dict[str, float]
    history: dict[str, np.ndarray]
    best_iter: torch.Tensor
    best_restart: torch.Tensor
    iters_run: int
    seconds: float
    loss_spec: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    image_weights: dict[str, torch.Tensor] = field(default_factory=dict)
    saturated: torch.Tensor | None = None

    def cpu(self) -> "SearchResult":
        """A copy with every tensor on the CPU."""
        out = {}
        for k, v in self.__dict__.items():
            if isinstance(v, torch.Tensor):
                v = v.cpu()
            elif k in ("terms", "image_weights"):
                v = {n: t.cpu() for n, t in v.items()}
            out[k] = v
        return SearchResult(**out)

    def final_losses(self) -> list[dict[str, float]]:
        """One ``{"total": ..., name: ...}`` dict per image (for tables and run logs)."""
        total = self.total.detach().cpu().tolist()
        terms = {n: t.detach().cpu().tolist() for n, t in self.terms.items()}
        return [{"total": total[i], **{n: v[i] for n, v in terms.items()}} for i in range(len(total))]


@contextlib.contextmanager
def frozen(*modules: nn.Module | None) -> Iterator[None]:
    """Eval mode and ``requires_grad_(False)`` for the modules, restored on exit."""
    saved = []
    for m in modules:
        if m is None:
            continue
        saved.append((m, m.training, [(p, p.requires_grad) for p in m.parameters()]))
        m.eval().requires_grad_(False)
    try:
        yield
    finally:
        for m, training, flags in saved:
            m.train(training)
            for p, flag in flags:
                p.requires_grad_(flag)


def _module_device(m: nn.Module) -> torch.device:
    for t in m.parameters():
        return t.device
    for t in m.buffers():
        return t.device
    return torch.device("cpu")


def latent_search(generator: nn.Module, discriminator: nn.Module | None, y: torch.Tensor,
                  mask: torch.Tensor, loss: CompositeLoss | str,
                  config: SearchConfig | None = None, *, feature_net: nn.Module | None = None,
                  progress: bool = False,
                  callback: Callable[[int, torch.Tensor, dict[str, torch.Tensor]], Any] | None = None,
                  z_init: torch.Tensor | None = None, progress_every: int = 20) -> SearchResult:
    """Search the GAN's latent space for the ``z`` whose image best completes each ``y``.

    Args:
        generator, discriminator: the trained DCGAN (``discriminator`` may be None when no term
            reads it). They, and the feature network, are put in eval mode with frozen parameters
            for the search (restored afterwards) and moved to the search device (in place, as
            ``nn.Module.to`` does).
        y: ``(B, 3, H, W)`` corrupted images in [-1, 1]; the hole's values are never read.
        mask: ``(B|1, 1, H, W)``, 1 = known.
        loss: a :class:`~inpaintkit.losses.CompositeLoss` or a spec string for
            :func:`~inpaintkit.losses.build_loss`.
        config: :class:`SearchConfig`; default the defaults. Chunking big batches is the caller's
            job: memory grows with ``B * restarts``.
        feature_net: the feature network for ``sem``/``cat``; when given with a CompositeLoss, it
            replaces the loss's own (``loss.set_feature_net``).
        progress: show a tqdm bar with the current mean loss (syncs every ``progress_every`` steps).
        callback: called after every step as ``callback(step, total, terms)`` with detached
            ``(B*K,)`` tensors (row ``i*K + k`` is image ``i``, restart ``k``); return True to stop.
        z_init: optional starting latents ``(B, nz)`` (or ``(B, K, nz)``), instead of the seeded
            ``U[-1, 1]`` draw.

    Returns:
        :class:`SearchResult`, tensors on the search device.

    Raises:
        ValueError: images of another size than the generator's, NaN/inf at known pixels, a bad
            ``z_init``. MaskError: a bad mask. LossSpecError: a bad spec string.
    """
    config = config or SearchConfig()
    t0 = time.perf_counter()
    if isinstance(loss, str):
        loss = build_loss(loss, feature_net)
    elif feature_net is not None:
        loss.set_feature_net(feature_net)
    if not isinstance(loss, CompositeLoss):
        raise TypeError(f"loss must be a CompositeLoss or a spec string, got {type(loss).__name__}")
    device = resolve_device(config.device) if config.device is not None else _module_device(generator)
    config = replace(config, precision=resolve_precision(config.precision, device))  # what runs, recorded
    fnet = loss.feature_net
    for m in (generator, discriminator, fnet):
        if m is not None:
            m.to(device)

    gcfg = getattr(generator, "config", None)
    nz = int(gcfg.nz) if gcfg is not None else int(next(generator.parameters()).shape[-1])
    if not isinstance(y, torch.Tensor) or y.dim() != 4:
        raise ValueError(f"y must be a (B, 3, H, W) tensor, got {getattr(y, 'shape', type(y).__name__)}")
    if gcfg is not None and tuple(y.shape[-2:]) != (gcfg.image_size, gcfg.image_size):
        raise ValueError(f"y is {y.shape[-2]}x{y.shape[-1]} but the generator makes "
                         f"{gcfg.image_size}x{gcfg.image_size} images; resize the images or use a "
                         f"checkpoint for this size")
    b, k = y.shape[0], int(config.restarts)
    n = b * k
    dtype = next((p.dtype for p in generator.parameters() if p.is_floating_point()), torch.float32)
    y = y.to(device=device, dtype=dtype)
    mask = torch.as_tensor(mask).to(device)
    if k > 1:
        y = y.repeat_interleave(k, 0)
        if mask.dim() == 4 and mask.shape[0] == b and b > 1:
            mask = mask.repeat_interleave(k, 0)
    # validates y and mask; computes the fixed targets of sem[known]/cat[known] once
    prepared = loss.prepare(y, mask, feature_chunk=config.feature_chunk_for(device))

    names = loss.names
    z = initial_z(z_init, b, k, nz, config.seed).to(device, dtype).requires_grad_(True)
    opt = LatentOptimizer(z, config)

    iters = int(config.iters)
    # history[t] = (total, term_1, ..., term_T) for every row; written on the device
    hist = torch.empty((iters, len(names) + 1, n), dtype=torch.float32, device=device)
    best_vals = torch.full((len(names) + 1, n), math.inf, device=device)
    best_z = z.detach().clone()
    best_iter = torch.zeros(n, dtype=torch.long, device=device)
    stall_ref = torch.full((n,), math.inf, device=device)
    stall_at = torch.zeros(n, dtype=torch.long, device=device)
    step_t = torch.zeros((), dtype=torch.long, device=device)
    on_clip = torch.zeros(n, device=device)  # the largest fraction of z on the clip after a step
    weights: dict[str, float | torch.Tensor] | None = None  # auto weights resolved at step 0

    def record(total, terms) -> torch.Tensor:
        vals = torch.stack([total.detach().float()] + [terms[nm].detach().float() for nm in names])
        improved = vals[0] < best_vals[0]
        best_vals.copy_(torch.where(improved[None], vals, best_vals))
        best_z.copy_(torch.where(improved[:, None], z.detach(), best_z))
        best_iter.copy_(torch.where(improved, step_t, best_iter))
        return vals

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=iters, desc="latent search", unit="it", leave=False)
    iters_run = 0
    with frozen(generator, discriminator, fnet):
        evaluate, evaluate_eager = loss_evaluator(loss, prepared, z, generator=generator,
                                                  discriminator=discriminator, fnet=fnet,
                                                  config=config, device=device)
        try:
            for t in range(iters):
                terms = evaluate(z)
                if weights is None:
                    weights = loss.resolve_weights(terms, z, group=k)
                total = loss.combine(terms, weights)
                with torch.no_grad():
                    step_t.fill_(t)
                    vals = record(total, terms)
                    hist[t] = vals
                    if config.patience is not None:
                        better = vals[0] < stall_ref - config.min_delta * stall_ref.abs()
                        stall_ref.copy_(torch.where(better, vals[0], stall_ref))
                        stall_at.copy_(torch.where(better, step_t, stall_at))
                z.grad = None
                total.sum().backward()
                opt.step(config.lr_at(t))
                with torch.no_grad():
                    z.clamp_(-1.0, 1.0)
                    torch.maximum(on_clip, (z.abs() >= 1.0).float().mean(1), out=on_clip)
                iters_run = t + 1
                stop = False
                if callback is not None:
                    stop = bool(callback(t, vals[0], {nm: vals[j + 1] for j, nm in enumerate(names)}))
                if bar is not None:
                    bar.update(1)
                    if t % progress_every == 0 or t == iters - 1:
                        bar.set_postfix(loss=f"{vals[0].mean().item():.4g}")
                if (config.patience is not None and (t + 1) % config.check_every == 0
                        and int((t - stall_at).min()) >= config.patience):
                    stop = True
                if stop:
                    break
            # the last step's update has not been evaluated yet
            with torch.no_grad():
                step_t.fill_(iters_run)
                last = evaluate_eager(z)
                if weights is None:  # iters == 0: auto weights need a gradient
                    with torch.enable_grad():
                        zg = z.detach().requires_grad_(True)
                        weights = loss.resolve_weights(evaluate_eager(zg), zg, group=k)
                record(loss.combine(last, weights), last)
        finally:
            if bar is not None:
                bar.close()

        # reduce restarts: image i keeps its best row among i*K .. i*K+K-1
        with torch.no_grad():
            per = best_vals.view(len(names) + 1, b, k)
            winner = per[0].argmin(1)                              # (B,)
            rows = torch.arange(b, device=device) * k + winner
            z_best = best_z[rows]
            vals_best = best_vals[:, rows]
            if config.restart_reduce == "mean" and k > 1:
                g = generator(best_z).view(b, k, *y.shape[1:]).mean(1)
            else:
                g = generator(z_best)
            keep = (prepared.mask if prepared.mask.shape[0] == 1 else prepared.mask[rows]) > 0
            y_img = y[rows]
            composite = torch.where(keep, y_img, g)
            history_rows = hist[:iters_run, :, rows].cpu().numpy()  # the one copy to the host
            image_weights = {nm: (w[rows].detach().float() if isinstance(w, torch.Tensor)
                                  else torch.full((b,), float(w), device=device))
                             for nm, w in weights.items()}
            saturated = on_clip[rows]
    if iters_run and bool((on_clip > 0.5).any()):  # any restart of any image, once per search
        warnings.warn(f"the search saturated z: the weights are probably too large (up to "
                      f"{float(on_clip.max()):.0%} of a latent's coordinates sat on the [-1, 1] "
                      f"clip after a step; loss {loss.spec})", RuntimeWarning, stacklevel=2)

    history = {"total": np.ascontiguousarray(history_rows[:, 0])}
    for j, nm in enumerate(names):
        history[nm] = np.ascontiguousarray(history_rows[:, j + 1])
    return SearchResult(
        z=z_best, g=g, composite=composite, total=vals_best[0],
        terms={nm: vals_best[j + 1] for j, nm in enumerate(names)}, weights=dict(loss.weights),
        history=history, best_iter=best_iter[rows], best_restart=winner, iters_run=iters_run,
        seconds=time.perf_counter() - t0, loss_spec=loss.spec, config=config.to_dict(),
        image_weights=image_weights, saturated=saturated,
    )
