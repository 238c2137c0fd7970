"""Context Encoder training: ``inpaintkit train-context-encoder``.

The joint loss of Pathak et al. (2016): ``0.999 * L_rec + 0.001 * L_adv``, where ``L_rec`` is the
mean squared error over the hole (per image, averaged over the batch) and ``L_adv`` the
non-saturating adversarial loss of a DCGAN discriminator that sees the composite
``M*x + (1-M)*F(x)`` against real images. Adam (lr 2e-4, beta1 0.5), batch 64, random horizontal
flips, as the DCGAN trainer.

Masks: every image of a batch gets its own mask, drawn from a mixture of the kinds the benchmark
uses, so the network is not a center-only model: ``center``; ``half`` (a random side, which
includes ``left``); ``random`` with a drop rate uniform in [0.5, 0.9] (the benchmarks use 0.7
and 0.8); ``blocks`` with 1-6 rectangles. The mixture is an option (``masks``).

Conventions shared with :mod:`inpaintkit.train_gan`: the data order, flips and masks of iteration
``t`` on rank ``r`` are functions of ``(seed, t, r)`` only, so ``--resume`` from a checkpoint
reproduces the uninterrupted run; checkpoints are written atomically; ``config.json`` and
``meta.json`` describe the run; under ``torchrun`` the same command trains with
DistributedDataParallel and only rank 0 writes files.

References:
    D. Pathak, P. Krähenbühl, J. Donahue, T. Darrell, A. A. Efros, "Context Encoders: Feature
    Learning by Inpainting", CVPR 2016.
"""
from __future__ import annotations

import contextlib
import io
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .baselines.context_encoder import (
    ContextEncoder,
    ContextEncoderConfig,
    load_context_encoder,
    save_context_encoder,
)
from .models import CheckpointError, DCGANConfig, Discriminator, init_weights, read_checkpoint
from .train_gan import _batch_indices, _optimizers_to, _read_losses, _step_generator, _write_losses
from .utils import (
    PRECISIONS,
    atomic_write_bytes,
    atomic_write_json,
    dist_env,
    resolve_device,
    resolve_precision,
    run_metadata,
    save_figure,
    to_unit,
    warn_if_slow_bf16,
)

__all__ = ["CETrainConfig", "train_context_encoder", "sample_masks", "MASK_KINDS",
           "export_context_encoder"]

#: The mask kinds of the training mixture and how each is drawn (see the module docstring).
MASK_KINDS = ("center", "half", "random", "blocks")
_LOSS_FIELDS = ["iter", "loss_d", "loss_rec", "loss_adv", "d_real", "d_fake", "sec_per_iter"]
# fields that define the optimisation; a resume that changes one of them is refused
_RESUME_FIELDS = ("data", "image_size", "batch_size", "lr", "beta1", "w_rec", "w_adv", "masks",
                  "flip", "seed", "precision", "nef", "ngf", "ndf")


@dataclass
class CETrainConfig:
    """Everything that defines a Context Encoder training run; saved as ``config.json``.

    Args:
        data: dataset spec (``inpaintkit data list``).
        image_size: training side (the data is resized to it); a power of two >= 16.
        iters: total iterations (one D step and one encoder-decoder step each).
        batch_size: global batch size (split across ranks under torchrun).
        lr, beta1: Adam settings of both networks.
        w_rec, w_adv: weights of the reconstruction and adversarial losses (paper: 0.999, 0.001).
        masks: the mask kinds of the training mixture, a subset of :data:`MASK_KINDS`.
        nef, ngf: encoder and decoder widths; ndf: the discriminator's width.
        precision: ``fp32``, ``bf16`` (autocast; weights and optimiser stay fp32) or ``auto``
            (``bf16`` where it is native, else ``fp32``; the run records which).
        channels_last: NHWC memory format, faster for convolutions on CPU.
        sample_every, ckpt_every, log_every: intervals in iterations.
    """

    data: str = "synthetic-cars"
    image_size: int = 64
    iters: int = 6000
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    w_rec: float = 0.999
    w_adv: float = 0.001
    masks: tuple[str, ...] = MASK_KINDS
    nef: int = 64
    ngf: int = 64
    ndf: int = 64
    flip: bool = True
    seed: int = 0
    precision: str = "fp32"
    channels_last: bool = False
    sample_every: int = 500
    ckpt_every: int = 250
    log_every: int = 10
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        ContextEncoderConfig(self.image_size, self.nef, self.ngf)  # checks sizes and widths
        for name in ("iters", "batch_size", "ndf", "sample_every", "ckpt_every", "log_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not (self.lr > 0 and np.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if not 0 <= self.beta1 < 1:
            raise ValueError(f"beta1 must be in [0, 1), got {self.beta1!r}")
        if not (self.w_rec >= 0 and self.w_adv >= 0 and self.w_rec + self.w_adv > 0
                and np.isfinite(self.w_rec + self.w_adv)):
            raise ValueError(f"w_rec and w_adv must be non-negative and not both 0, got "
                             f"{self.w_rec!r}, {self.w_adv!r}")
        bad = [k for k in self.masks if k not in MASK_KINDS]
        if bad or not self.masks:
            raise ValueError(f"unknown mask kind(s) {bad or '(none given)'}; choose from "
                             f"{', '.join(MASK_KINDS)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


def sample_masks(kinds: Sequence[str], n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` masks ``(n, size, size)`` bool (True = known), each of a kind drawn uniformly from ``kinds``.

    ``half`` picks one of the four sides, ``random`` a drop rate in [0.5, 0.9], ``blocks`` 1-6
    rectangles, each from ``rng``.
    """
    from .masks import MASKS

    out = np.empty((n, size, size), bool)
    for i in range(n):
        kind = kinds[int(rng.integers(len(kinds)))]
        if kind == "random":
            m = MASKS.get("random")(size, size, rng, float(rng.uniform(0.5, 0.9)))
        elif kind == "blocks":
            m = MASKS.get("blocks")(size, size, rng, int(rng.integers(1, 7)))
        else:
            m = MASKS.get(kind)(size, size, rng)
        if m.all():  # a degenerate draw with no hole: fall back to the center square
            m = MASKS.get("center")(size, size, rng)
        out[i] = m
    return out


def _plot_losses(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        return
    it = [r["iter"] for r in rows]
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(13, 3.5))
    a1.plot(it, [r["loss_rec"] for r in rows], lw=0.8)
    a1.set_yscale("log")
    a1.set_title("reconstruction (MSE over the hole)")
    a2.plot(it, [r["loss_adv"] for r in rows], label="adversarial (encoder-decoder)", lw=0.8)
    a2.plot(it, [r["loss_d"] for r in rows], label="D loss", lw=0.8)
    a2.legend()
    a2.set_title("adversarial losses")
    a3.plot(it, [r["d_real"] for r in rows], label="D(x) real", lw=0.8)
    a3.plot(it, [r["d_fake"] for r in rows], label="D(composite)", lw=0.8)
    a3.set_ylim(0, 1)
    a3.legend()
    a3.set_title("discriminator outputs")
    for a in (a1, a2, a3):
        a.set_xlabel("iteration")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


@torch.no_grad()
def _sample_grid(model: ContextEncoder, x: torch.Tensor, m: torch.Tensor, path: Path) -> None:
    """Rows of (masked input, composite output, original): 8 images per row block."""
    from PIL import Image
    from torchvision.utils import make_grid

    was = model.training
    model.eval()
    pred = model(x * m, m).float()
    model.train(was)
    comp = m * x + (1 - m) * pred
    masked = x * m + (1 - m) * 0.0
    tiles = torch.cat([torch.stack([a, b, c]) for a, b, c in zip(masked, comp, x)])
    grid = make_grid(to_unit(tiles).cpu(), nrow=12, padding=2, pad_value=1.0)
    buf = io.BytesIO()
    Image.fromarray((grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(buf, "PNG")
    atomic_write_bytes(path, buf.getvalue())


def _check_resume_config(saved: dict[str, Any], config: CETrainConfig, path: Path) -> None:
    now = asdict(config)
    diff = [f"{k}: {saved.get(k)!r} -> {list(now[k]) if isinstance(now[k], tuple) else now[k]!r}"
            for k in _RESUME_FIELDS
            if (list(now[k]) if isinstance(now[k], tuple) else now[k]) != saved.get(k)]
    if diff:
        raise ValueError(f"{path} was trained with other settings ({'; '.join(diff)}); resume "
                         f"with the same options, or choose another --out")


def train_context_encoder(config: CETrainConfig, out: str | os.PathLike, resume: bool = False,
                          device: str | None = None, progress: bool = True) -> Path:
    """Train a Context Encoder; return the path of the release file ``DIR/context-encoder.pt``.

    Files in ``out``: ``config.json``, ``meta.json``, ``checkpoint.pt`` (latest, resumable: both
    networks and their optimisers, written atomically every ``ckpt_every`` iterations),
    ``context-encoder.pt`` (the encoder-decoder alone in fp16, what ``bench --ce`` loads, written
    with every checkpoint), ``losses.csv`` and ``losses.png``, ``samples/iter_XXXXXXX.png`` (inputs,
    outputs and originals of fixed training images and masks) and ``samples.png`` (the latest).

    Raises:
        ValueError: a bad config, or a resume with settings that differ from the run's.
        FileExistsError: ``out`` already holds a checkpoint and ``resume`` is False.
        CheckpointError: ``resume`` finds a checkpoint of another kind or architecture.
    """
    from .data import build_dataset

    config.validate()
    env = dist_env()
    rank, world, distributed = env.rank, env.world_size, env.distributed
    dev = resolve_device(device)
    if distributed:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        if dev.type == "cuda":
            dev = torch.device("cuda", env.local_rank)
            torch.cuda.set_device(dev)
    if config.batch_size % world:
        raise ValueError(f"--batch-size {config.batch_size} must be divisible by the {world} "
                         f"processes")
    config = replace(config, precision=resolve_precision(config.precision, dev))  # "auto" -> what runs
    out = Path(out)
    ckpt_path = out / "checkpoint.pt"
    is_main = rank == 0
    if ckpt_path.exists() and not resume:
        raise FileExistsError(f"{ckpt_path} exists; pass --resume to continue it or choose "
                              f"another --out")
    data = build_dataset(config.data, split="train", image_size=config.image_size,
                         flip=config.flip, seed=config.seed)
    if len(data) < config.batch_size:
        raise ValueError(f"{config.data} has {len(data)} images, fewer than --batch-size "
                         f"{config.batch_size}")

    torch.manual_seed(config.seed)
    net = ContextEncoder(ContextEncoderConfig(config.image_size, config.nef, config.ngf))
    d = Discriminator(DCGANConfig(image_size=config.image_size, ndf=config.ndf))
    d.apply(init_weights)
    opt_g = torch.optim.Adam(net.parameters(), lr=config.lr, betas=(config.beta1, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=config.lr, betas=(config.beta1, 0.999))
    start, rows = 0, []
    if resume and ckpt_path.exists():
        ckpt = read_checkpoint(ckpt_path)
        if "train_state" not in ckpt or "discriminator" not in ckpt.get("state_dict", {}):
            raise CheckpointError(f"{ckpt_path} is not a resumable Context Encoder checkpoint")
        _check_resume_config(ckpt.get("meta", {}).get("train_config", {}), config, ckpt_path)
        net_l, _ = load_context_encoder(ckpt_path)
        net.load_state_dict(net_l.state_dict())
        d.load_state_dict(ckpt["state_dict"]["discriminator"])
        ts = ckpt["train_state"]
        opt_g.load_state_dict(ts["opt_g"])
        opt_d.load_state_dict(ts["opt_d"])
        start = int(ts["iteration"])
        rows = _read_losses(out / "losses.csv", start)

    net.to(dev).train()
    d.to(dev).train()
    _optimizers_to((opt_g, opt_d), dev)  # a resumed Adam's state follows the parameters
    mf = torch.channels_last if config.channels_last else torch.contiguous_format
    if config.channels_last:
        net.to(memory_format=mf)
        d.to(memory_format=mf)
    net_train, d_train = net, d
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [dev.index] if dev.type == "cuda" else None
        net_train, d_train = DDP(net, device_ids=ids), DDP(d, device_ids=ids)

    cfg_dict = {**asdict(config), "masks": list(config.masks), "world_size": world,
                "model_config": net.config.to_dict()}
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "samples").mkdir(exist_ok=True)
        atomic_write_json(out / "config.json", cfg_dict)
        meta = run_metadata(cfg_dict)
        meta["resumed_from"] = start
        atomic_write_json(out / "meta.json", meta)

    # fixed images and masks for the sample grids: the first 16 training images, one mask of each
    # kind in turn
    n_fix = min(16, len(data))
    fix_x, _ = data.get_batch(np.arange(n_fix))
    fix_m = torch.from_numpy(np.stack([
        sample_masks((config.masks[i % len(config.masks)],), 1, config.image_size,
                     np.random.default_rng([config.seed, 777, i]))[0] for i in range(n_fix)]))
    fix_x, fix_m = fix_x.to(dev), fix_m[:, None].float().to(dev)

    if config.precision == "bf16":
        warn_if_slow_bf16(dev, "train-context-encoder --precision bf16")
    autocast = (torch.autocast(dev.type, dtype=torch.bfloat16) if config.precision == "bf16"
                else contextlib.nullcontext())

    def checkpoint(it: int) -> None:
        meta = {"iteration": it, "data": config.data, "seed": config.seed,
                "train_config": cfg_dict,
                "sec_per_iter": rows[-1]["sec_per_iter"] if rows else None}
        save_context_encoder(ckpt_path, net, d, meta=meta,
                             train_state={"iteration": it, "opt_g": opt_g.state_dict(),
                                          "opt_d": opt_d.state_dict()})
        save_context_encoder(out / "context-encoder.pt", net, meta=meta,
                             storage_dtype=torch.float16)
        _write_losses(rows, out / "losses.csv", _LOSS_FIELDS)
        _plot_losses(rows, out / "losses.png")

    bar = None
    if progress and is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.iters, initial=start, desc="train-context-encoder",
                   dynamic_ncols=True)
    acc = torch.zeros(5, device=dev)
    n_acc = 0
    t_log = time.perf_counter()
    for it in range(start, config.iters):
        gen = _step_generator(config.seed, it, rank)
        idx = _batch_indices(len(data), config.seed, it, config.batch_size, rank, world)
        real, _ = data.get_batch(idx, generator=gen)
        rng = np.random.default_rng([config.seed, it, rank, 1])
        m = torch.from_numpy(sample_masks(config.masks, len(idx), config.image_size, rng))
        real = real.to(dev, non_blocking=True).contiguous(memory_format=mf)
        m = m[:, None].float().to(dev).contiguous(memory_format=mf)
        hole = 1 - m

        with autocast:
            pred = net_train(real * m, m)
        comp = m * real + hole * pred.float()

        # discriminator: real images against composites, BCE in softplus form
        with autocast:
            l_real = d_train(real)
            l_fake = d_train(comp.detach())
            loss_d = F.softplus(-l_real).mean() + F.softplus(l_fake).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.float().backward()
        opt_d.step()

        # encoder-decoder: MSE over the hole (per image) + non-saturating adversarial loss
        err = ((pred.float() - real) ** 2 * hole).sum((1, 2, 3))
        loss_rec = (err / (hole.sum((1, 2, 3)) * real.shape[1])).mean()
        with autocast:
            l_gen = (d_train.module if distributed else d)(comp)
            loss_adv = F.softplus(-l_gen).mean()
        loss = config.w_rec * loss_rec + config.w_adv * loss_adv.float()
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()

        with torch.no_grad():
            acc += torch.stack([loss_d.float(), loss_rec.float(), loss_adv.float(),
                                torch.sigmoid(l_real.float()).mean(),
                                torch.sigmoid(l_fake.float()).mean()])
        n_acc += 1
        done = it + 1
        if done % config.log_every == 0 or done == config.iters:
            vals = (acc / n_acc).tolist()
            now = time.perf_counter()
            rows.append({"iter": done, "loss_d": vals[0], "loss_rec": vals[1], "loss_adv": vals[2],
                         "d_real": vals[3], "d_fake": vals[4],
                         "sec_per_iter": (now - t_log) / n_acc})
            if not all(np.isfinite(vals)):
                raise FloatingPointError(f"training diverged at iteration {done} (losses {vals}); "
                                         f"the last finite checkpoint is {ckpt_path}")
            t_log, acc, n_acc = now, torch.zeros(5, device=dev), 0
            if bar is not None:
                bar.set_postfix(rec=f"{vals[1]:.4f}", D=f"{vals[0]:.3f}",
                                s_it=f"{rows[-1]['sec_per_iter']:.2f}")
        if bar is not None:
            bar.update(1)
        if is_main:
            if done % config.sample_every == 0 or done == config.iters:
                _sample_grid(net, fix_x, fix_m, out / "samples" / f"iter_{done:07d}.png")
                _sample_grid(net, fix_x, fix_m, out / "samples.png")
            if done % config.ckpt_every == 0 or done == config.iters:
                checkpoint(done)
    if bar is not None:
        bar.close()
    if start >= config.iters and is_main:
        checkpoint(start)
    if distributed:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return out / "context-encoder.pt"


def export_context_encoder(checkpoint: str | os.PathLike, out: str | os.PathLike,
                           storage_dtype: torch.dtype | None = torch.float16) -> Path:
    """Write the encoder-decoder of a training checkpoint alone (no D, no optimiser), for release."""
    model, ckpt = load_context_encoder(checkpoint)
    save_context_encoder(out, model, meta={**ckpt.get("meta", {}),
                                           "exported_from": str(checkpoint)},
                         storage_dtype=storage_dtype)
    return Path(out)
