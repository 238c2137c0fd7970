"""DCGAN training: ``inpaintkit train-gan``.

Adam (lr 2e-4, beta1 0.5), batch 64, random horizontal flips, N(0, 0.02) initialisation, as in
SPEC.md and Radford et al. The discriminator minimises the usual cross-entropy, the generator the
non-saturating ``-log D(G(z))``, both in softplus form on the logit.

Options that change the training, each off by default (``GANTrainConfig`` documents them):
an exponential moving average of G's weights (``ema``; the average is the generator that gets
saved), DiffAugment (``diffaug``, see :mod:`inpaintkit.diffaug`), spectral normalisation in D
(``spectral_norm``) and the hinge loss (``gan_loss``). Checkpoints stay ordinary DCGAN checkpoints:
the saved generator is the EMA one, the saved discriminator has its spectral norm folded into the
weights, and the raw G and D needed for an exact ``--resume`` live in ``train_state``.

Resume is exact without saving any RNG state: the data order, flips and latent draws of iteration
``t`` on rank ``r`` are functions of ``(seed, t, r)`` only, so a run killed at a checkpoint and resumed
reproduces the uninterrupted run. Under ``torchrun`` the same command trains with
DistributedDataParallel (gloo on CPU, nccl on CUDA): ``--batch-size`` is the global batch, each rank
draws its own slice of it, and only rank 0 writes files.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import io
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .diffaug import diff_augment, parse_diffaug
from .models import (
    MODELS,
    CheckpointError,
    apply_spectral_norm,
    create_model,
    fold_spectral_norm,
    load_gan,
    save_gan,
)
from .utils import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    claim_run_dir,
    dist_env,
    remove_stale_tmp,
    resolve_device,
    resolve_precision,
    run_metadata,
    save_figure,
    to_unit,
    warn_if_slow_bf16,
)

__all__ = ["GANTrainConfig", "TrainingDiverged", "train_gan", "sample_grid", "export_generator", "RUN_KIND"]

#: ``meta.json``'s ``kind``: other commands refuse to write into a folder of this kind.
RUN_KIND = "inpaintkit.train-gan"


class TrainingDiverged(ArithmeticError):
    """A loss or a weight became non-finite: training stopped, the last finite checkpoint kept."""

_LOSS_FIELDS = ["iter", "loss_d", "loss_g", "d_real", "d_fake", "sec_per_iter"]


@dataclass
class GANTrainConfig:
    """Everything that defines a GAN training run; saved as ``config.json``.

    Args:
        data: dataset spec (see ``inpaintkit data list``).
        arch: registered DCGAN variant (``inpaintkit models``).
        iters: total generator/discriminator iterations.
        batch_size: global batch size (split across ranks under torchrun).
        lr, beta1: Adam settings.
        flip: random horizontal flips.
        precision: ``fp32``, ``bf16`` (autocast; weights and optimiser stay fp32) or ``auto``
            (``bf16`` where it is native, else ``fp32``; the run records which).
        channels_last: NHWC memory format, faster for convolutions on CPU.
        sample_every, ckpt_every, log_every: intervals in iterations.
        snapshot_every: also keep ``snapshots/iter_XXXXXXX.pt`` (G and D, fp16, no optimiser
            state) every this many iterations, 0 = never. GAN training can collapse late; the
            snapshots let you pick an earlier generator by its sample grid.
        model_overrides: DCGANConfig fields to override (nz, ngf, ndf, kernel_size).
        ema: decay of an exponential moving average of G's weights, updated after every G step,
            0 = off. BatchNorm buffers are copied from the trained G. Early on the decay is
            ``min(ema, (1 + t) / (10 + t))`` after ``t`` G steps (the TensorFlow
            ``ExponentialMovingAverage`` warm-up), so short runs do not average in the random
            initialisation. The average is what checkpoints, snapshots and sample grids hold as
            the "generator". Karras et al. 2018 and Yazici et al. 2019 show that it gives better
            samples than the last iterate.
        diffaug: DiffAugment policy, e.g. ``"color,translation,cutout"``; "" = off. Applied to real
            and fake images before every D call, in D's and G's steps (Zhao et al. 2020).
        spectral_norm: spectral normalisation on D's conv and linear weights (Miyato et al. 2018).
        gan_loss: ``bce`` (D: cross-entropy, G: non-saturating ``-log D(G(z))``) or ``hinge``
            (D: ``relu(1 - l_real) + relu(1 + l_fake)``, G: ``-l_fake``).
        fd_data: if set, score every snapshot by FD-R18 (:mod:`inpaintkit.quality`) against the
            real images ``fd_data[fd_start : fd_start + fd_n_real]`` (split ``fd_split``), with
            ``fd_n`` samples; rows go to ``snapshots.csv`` and the curve into ``losses.png``.
            Needs ``snapshot_every``. Only observes; a resume may change these.
        fd_classifier: the independent evaluator for FD-R18; "" = the bundled synthetic-cars one.
        fd_fit: if > 0, also score every snapshot's fit (:func:`inpaintkit.quality.inversion_fit`)
            on the first ``fd_fit`` of those real images: how well the generator reproduces
            held-out images, which FD-R18 does not tell (a column of ``snapshots.csv`` and a curve).
    """

    data: str = "synthetic-cars"
    arch: str = "dcgan_64"
    iters: int = 8000
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    flip: bool = True
    seed: int = 0
    precision: str = "fp32"
    channels_last: bool = False
    sample_every: int = 500
    ckpt_every: int = 250
    snapshot_every: int = 0
    log_every: int = 10
    model_overrides: dict[str, Any] = field(default_factory=dict)
    ema: float = 0.0
    diffaug: str = ""
    spectral_norm: bool = False
    gan_loss: str = "bce"
    fd_data: str = ""
    fd_classifier: str = ""
    fd_split: str = "val"
    fd_start: int = 0
    fd_n_real: int = 1000
    fd_n: int = 2000
    fd_fit: int = 0


# The options that change what is trained: a resume must use the values the checkpoint was trained
# with. Checkpoints written before these options existed trained with the defaults.
_TRAINING_OPTIONS = {"ema": 0.0, "diffaug": "", "spectral_norm": False, "gan_loss": "bce"}
_GAN_LOSSES = ("bce", "hinge")


def _resolve_options(config: GANTrainConfig) -> dict[str, Any]:
    """Check the training options and return them in canonical form (as stored in checkpoints)."""
    ema = float(config.ema)
    if not 0.0 <= ema < 1.0:
        raise ValueError(f"--ema must be in [0, 1) (0 = off), got {config.ema}")
    if config.gan_loss not in _GAN_LOSSES:
        raise ValueError(f"--gan-loss must be one of {', '.join(_GAN_LOSSES)}, got {config.gan_loss!r}")
    return {"ema": ema, "diffaug": ",".join(parse_diffaug(config.diffaug)),
            "spectral_norm": bool(config.spectral_norm), "gan_loss": config.gan_loss}


# The optimisation settings a resume must keep too: a changed lr or batch size would silently
# continue another run than the one the folder describes. Checkpoints written before they were
# stored in train_state are checked against the folder's config.json.
_RESUME_FIXED = ("lr", "beta1", "batch_size", "flip", "seed")


def _check_resume_options(path: Path, saved: dict[str, Any] | None, wanted: dict[str, Any]) -> None:
    saved = {**_TRAINING_OPTIONS, **(saved or {})}
    diff = []
    for name, value in wanted.items():
        if name in saved and saved[name] != value:
            flag = "--no-flip" if name == "flip" else "--" + name.replace("_", "-")
            diff.append(f"{name} = {saved[name]!r} ({flag}), not {value!r}")
    if diff:
        raise CheckpointError(f"{path} was trained with {'; '.join(diff)}; resume with the same "
                              f"value(s) or start a new --out")


def _fixed_settings(config: GANTrainConfig) -> dict[str, Any]:
    return {k: getattr(config, k) for k in _RESUME_FIXED}


def _saved_fixed_settings(train_state: dict[str, Any], config_json: Path) -> dict[str, Any]:
    saved = train_state.get("settings")
    if saved is None and config_json.is_file():
        import json

        try:
            saved = {k: v for k, v in json.loads(config_json.read_text()).items() if k in _RESUME_FIXED}
        except (OSError, ValueError):
            saved = None
    return saved or {}


def _all_finite(*modules: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for m in modules for p in m.parameters())


def _d_loss(kind: str, l_real: torch.Tensor, l_fake: torch.Tensor) -> torch.Tensor:
    if kind == "bce":  # softplus(-l_real) + softplus(l_fake) == BCE with logits
        return F.softplus(-l_real).mean() + F.softplus(l_fake).mean()
    return F.relu(1 - l_real).mean() + F.relu(1 + l_fake).mean()


def _g_loss(kind: str, l_fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-l_fake).mean() if kind == "bce" else -l_fake.mean()


@torch.no_grad()
def _update_ema(ema_g: torch.nn.Module, g: torch.nn.Module, decay: float, step: int) -> None:
    d = min(decay, (1.0 + step) / (10.0 + step))
    for pe, p in zip(ema_g.parameters(), g.parameters()):
        pe.lerp_(p.detach(), 1.0 - d)
    for be, b in zip(ema_g.buffers(), g.buffers()):
        be.copy_(b)


def _step_generator(seed: int, it: int, rank: int) -> torch.Generator:
    # A fresh, well-mixed stream per (seed, iteration, rank): the run needs no saved RNG state.
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, it, rank]).generate_state(1)[0]))


def _batch_indices(n: int, seed: int, it: int, global_batch: int, rank: int, world: int) -> np.ndarray:
    """Indices of this rank's slice of the global batch of iteration ``it``.

    The global sample stream is the concatenation of per-epoch permutations of ``range(n)``.
    """
    local = global_batch // world
    start = it * global_batch + rank * local
    pos = np.arange(start, start + local)
    epochs = pos // n
    out = np.empty(local, dtype=np.int64)
    for e in np.unique(epochs):
        perm = np.random.default_rng([seed, int(e)]).permutation(n)
        sel = epochs == e
        out[sel] = perm[pos[sel] % n]
    return out


@torch.no_grad()
def sample_grid(generator: torch.nn.Module, z: torch.Tensor, path: str | os.PathLike,
                nrow: int = 8, title: str | None = None) -> None:
    """Save ``G(z)`` as a PNG grid (G in eval mode, as the latent search uses it)."""
    from PIL import Image
    from torchvision.utils import make_grid

    was_training = generator.training
    generator.eval()
    x = generator(z).float()
    generator.train(was_training)
    grid = make_grid(to_unit(x).cpu(), nrow=nrow, padding=2, pad_value=1.0)
    buf = io.BytesIO()
    Image.fromarray((grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(buf, "PNG")
    atomic_write_bytes(path, buf.getvalue())


def _plot_losses(rows: list[dict], path: Path, fd_rows: list[dict] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        return
    it = [r["iter"] for r in rows]
    fig, axes = plt.subplots(1, 3 if fd_rows else 2, figsize=(15 if fd_rows else 10, 3.5))
    a1, a2 = axes[0], axes[1]
    if fd_rows:
        axes[2].plot([r["iter"] for r in fd_rows], [r["fd_r18"] for r in fd_rows], "o-", lw=0.8, label="FD-R18")
        axes[2].set_xlabel("iteration")
        axes[2].set_ylabel("FD-R18 (lower is better)")
        axes[2].set_title("snapshots")
        fit = [(r["iter"], r["fit_psnr"]) for r in fd_rows if r.get("fit_psnr") is not None]
        if fit:
            twin = axes[2].twinx()
            twin.plot(*zip(*fit), "s-", lw=0.8, color="tab:green", label="fit")
            twin.set_ylabel("fit, known-pixel PSNR dB (higher is better)")
            axes[2].set_title("snapshots: FD-R18 (circles), fit (squares)")
    a1.plot(it, [r["loss_d"] for r in rows], label="D loss", lw=0.8)
    a1.plot(it, [r["loss_g"] for r in rows], label="G loss", lw=0.8)
    a1.set_xlabel("iteration")
    a1.legend()
    a1.set_title("losses")
    a2.plot(it, [r["d_real"] for r in rows], label="D(x) real", lw=0.8)
    a2.plot(it, [r["d_fake"] for r in rows], label="D(G(z))", lw=0.8)
    a2.set_xlabel("iteration")
    a2.set_ylim(0, 1)
    a2.legend()
    a2.set_title("discriminator outputs")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def _write_losses(rows: list[dict], path: Path, fields: Sequence[str] = tuple(_LOSS_FIELDS)) -> None:
    """The loss log as CSV, atomically (also used by ``train-context-encoder`` with its fields)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fields))
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]) for k in fields})
    atomic_write_text(path, buf.getvalue())


_FD_FIELDS = ["iter", "fd_r18", "kid", "kid_std", "n", "n_real", "fit_psnr", "fit_n"]


def _write_fd_rows(rows: list[dict], path: Path) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_FD_FIELDS, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _read_fd_rows(path: Path, upto: int) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        rows = [{k: (int(float(v)) if k in ("iter", "n", "n_real", "fit_n") else float(v)) for k, v in r.items()
                 if v not in ("", None)}  # a snapshot scored without fit has empty fit columns
                for r in csv.DictReader(f)]
    return [r for r in rows if r["iter"] <= upto]


def _optimizers_to(optimizers: Sequence[torch.optim.Optimizer], dev: torch.device) -> None:
    """Move the optimisers' state (a resumed Adam's moments) to the parameters' device; ``step`` stays."""
    for opt in optimizers:
        for st in opt.state.values():
            for k, v in st.items():
                if isinstance(v, torch.Tensor) and k != "step":
                    st[k] = v.to(dev)


def _read_losses(path: Path, upto: int) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        rows = [{k: (int(v) if k == "iter" else float(v)) for k, v in r.items()} for r in csv.DictReader(f)]
    return [r for r in rows if r["iter"] <= upto]


def train_gan(config: GANTrainConfig, out: str | os.PathLike, resume: bool = False,
              device: str | None = None, progress: bool = True, storage_dtype: torch.dtype | None = None
              ) -> Path:
    """Train a DCGAN; return the path of the final checkpoint (``DIR/checkpoint.pt``).

    Files in ``out``: ``config.json``, ``meta.json``, ``checkpoint.pt`` (latest, resumable, written
    atomically every ``ckpt_every`` iterations), ``losses.csv`` and ``losses.png``,
    ``samples/iter_XXXXXXX.png`` from a fixed z and ``samples.png`` (the latest).

    Raises:
        FileExistsError: ``out`` already holds a checkpoint and ``resume`` is False.
        CheckpointError: ``resume`` finds a checkpoint of another architecture.
    """
    from .data import build_dataset

    env = dist_env()
    rank, world, distributed = env.rank, env.world_size, env.distributed
    dev = resolve_device(device)
    if distributed:
        import torch.distributed as dist

        backend = "nccl" if dev.type == "cuda" else "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend)
        if dev.type == "cuda":
            dev = torch.device("cuda", env.local_rank)
            torch.cuda.set_device(dev)
    if config.batch_size % world:
        raise ValueError(f"--batch-size {config.batch_size} must be divisible by the {world} processes")
    config = replace(config, precision=resolve_precision(config.precision, dev))  # "auto" -> what runs
    if config.arch not in MODELS:
        MODELS.get(config.arch)  # raises with the list
    options = _resolve_options(config)
    policy = parse_diffaug(options["diffaug"])
    if config.fd_data and not config.snapshot_every:
        raise ValueError("--fd-data scores the snapshots, so it needs --snapshot-every N")
    if config.fd_fit and not config.fd_data:
        raise ValueError("--fd-fit fits the first images of --fd-data, so it needs --fd-data")
    if config.fd_fit > config.fd_n_real:
        raise ValueError(f"--fd-fit {config.fd_fit} is more than the {config.fd_n_real} real images (--fd-n-real)")

    out = Path(out)
    ckpt_path = out / "checkpoint.pt"
    is_main = rank == 0
    if is_main:
        claim_run_dir(out, RUN_KIND)
        remove_stale_tmp(out)  # what a killed run's atomic writes left behind
    if ckpt_path.exists() and not resume:
        raise FileExistsError(f"{ckpt_path} exists; pass --resume to continue it or choose another --out")

    model_cfg = MODELS.build(config.arch, **config.model_overrides)
    data = build_dataset(config.data, split="train", image_size=model_cfg.image_size, flip=config.flip,
                         seed=config.seed)
    if len(data) < config.batch_size:
        raise ValueError(f"{config.data} has {len(data)} images, fewer than --batch-size {config.batch_size}")

    torch.manual_seed(config.seed)
    g, d = create_model(config.arch, **config.model_overrides)
    if options["spectral_norm"]:
        apply_spectral_norm(d)
    ema_g = copy.deepcopy(g).requires_grad_(False) if options["ema"] else None
    opt_g = torch.optim.Adam(g.parameters(), lr=config.lr, betas=(config.beta1, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=config.lr, betas=(config.beta1, 0.999))
    start = 0
    rows: list[dict] = []
    fd_rows: list[dict] = []
    if resume and ckpt_path.exists():
        g_l, d_l, ckpt = load_gan(ckpt_path, arch=config.arch)
        if g_l.config != model_cfg:
            raise CheckpointError(f"{ckpt_path} was trained with {g_l.config}, not {model_cfg}")
        ts = ckpt["train_state"]
        _check_resume_options(ckpt_path, ts.get("options"), options)
        _check_resume_options(ckpt_path, _saved_fixed_settings(ts, out / "config.json"),
                              _fixed_settings(config))
        # The checkpoint's "generator" is the EMA one and its "discriminator" has the spectral norm
        # folded in; the raw weights that training continues from are in train_state.
        if ema_g is not None:
            ema_g.load_state_dict(g_l.state_dict())
            g.load_state_dict(ts["generator_raw"])
        else:
            g.load_state_dict(g_l.state_dict())
        d.load_state_dict(ts["discriminator_raw"] if options["spectral_norm"] else d_l.state_dict())
        opt_g.load_state_dict(ts["opt_g"])
        opt_d.load_state_dict(ts["opt_d"])
        start = int(ts["iteration"])
        rows = _read_losses(out / "losses.csv", start)
        fd_rows = _read_fd_rows(out / "snapshots.csv", start)

    g.to(dev).train()
    d.to(dev).train()
    if ema_g is not None:
        ema_g.to(dev).train()  # train mode like g; sample_grid and the saved copy use eval semantics
    _optimizers_to((opt_g, opt_d), dev)
    mf = torch.channels_last if config.channels_last else torch.contiguous_format
    if config.channels_last:
        g.to(memory_format=mf)
        d.to(memory_format=mf)
        if ema_g is not None:
            ema_g.to(memory_format=mf)
    g_out = ema_g if ema_g is not None else g  # the generator that is saved and sampled

    def d_out() -> torch.nn.Module:  # the discriminator that is saved
        return fold_spectral_norm(d) if options["spectral_norm"] else d
    g_train, d_train = g, d
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [dev.index] if dev.type == "cuda" else None
        g_train, d_train = DDP(g, device_ids=ids), DDP(d, device_ids=ids)

    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "samples").mkdir(exist_ok=True)
        cfg_dict = {**asdict(config), **options, "model_config": model_cfg.to_dict(), "world_size": world}
        atomic_write_json(out / "config.json", cfg_dict)
        meta = run_metadata(cfg_dict)
        meta["kind"] = RUN_KIND + "/1"
        meta["resumed_from"] = start
        atomic_write_json(out / "meta.json", meta)

    quality = None
    if config.fd_data and is_main:
        from .quality import GeneratorQuality, real_images

        evaluator = config.fd_classifier
        if not evaluator:
            from .bench import bundled_asset

            evaluator = str(bundled_asset("eval_classifier"))
        real = real_images(config.fd_data, config.fd_split, config.fd_start, config.fd_n_real,
                           model_cfg.image_size)
        quality = GeneratorQuality(real, evaluator, device=dev,
                                   fit_images=real[:config.fd_fit] if config.fd_fit > 0 else None)

    fixed_z = (torch.rand(64, model_cfg.nz, generator=torch.Generator().manual_seed(config.seed + 12345))
               * 2 - 1).to(dev)
    if config.precision == "bf16":
        warn_if_slow_bf16(dev, "train-gan --precision bf16")
    autocast = (torch.autocast(dev.type, dtype=torch.bfloat16) if config.precision == "bf16"
                else contextlib.nullcontext())

    def checkpoint(it: int) -> None:
        meta = {"iteration": it, "data": config.data, "seed": config.seed, "precision": config.precision,
                "world_size": world, "sec_per_iter": rows[-1]["sec_per_iter"] if rows else None}
        if not _all_finite(g, d, *([ema_g] if ema_g is not None else [])):
            diverged(it, "the weights")
        state = {"iteration": it, "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "options": options,
                 "settings": _fixed_settings(config)}
        if ema_g is not None:
            state["generator_raw"] = {k: v.detach().cpu().clone() for k, v in g.state_dict().items()}
        if options["spectral_norm"]:
            state["discriminator_raw"] = {k: v.detach().cpu().clone() for k, v in d.state_dict().items()}
        save_gan(ckpt_path, g_out, d_out(), config.arch, meta=meta, train_state=state,
                 storage_dtype=storage_dtype)
        _write_losses(rows, out / "losses.csv")
        _plot_losses(rows, out / "losses.png", fd_rows)

    def diverged(it: int, what: str) -> None:
        last = (f"the last finite checkpoint {ckpt_path} (iteration {_saved_iteration(ckpt_path)}) is kept"
                if ckpt_path.is_file() else "no checkpoint had been written yet")
        raise TrainingDiverged(f"train-gan stopped at iteration {it}: {what} became non-finite (NaN or "
                               f"inf); {last}, and nothing non-finite was written. Lower --lr (now "
                               f"{config.lr:g}) or check the data")

    bar = None
    if progress and is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.iters, initial=start, desc="train-gan", dynamic_ncols=True)
    acc = torch.zeros(4, device=dev)
    n_acc = 0
    t_log = time.perf_counter()
    for it in range(start, config.iters):
        gen = _step_generator(config.seed, it, rank)
        idx = _batch_indices(len(data), config.seed, it, config.batch_size, rank, world)
        real, _ = data.get_batch(idx, generator=gen)
        z = torch.rand(len(idx), model_cfg.nz, generator=gen) * 2 - 1
        real = real.to(dev, non_blocking=True).contiguous(memory_format=mf)
        z = z.to(dev, non_blocking=True)

        def aug(x: torch.Tensor) -> torch.Tensor:
            # Drawn from this iteration's generator, after the batch and z: resume stays exact.
            return diff_augment(x, policy, gen) if policy else x

        with autocast:
            fake = g_train(z)
            l_real = d_train(aug(real))
            l_fake = d_train(aug(fake.detach()))
            loss_d = _d_loss(options["gan_loss"], l_real, l_fake)
        opt_d.zero_grad(set_to_none=True)
        loss_d.float().backward()
        opt_d.step()

        # Generator. D's own gradients from this pass are discarded (zeroed above before D's next
        # step); the unwrapped D keeps DDP from all-reducing them.
        with autocast:
            l_gen = (d_train.module if distributed else d)(aug(fake))
            loss_g = _g_loss(options["gan_loss"], l_gen)
        opt_g.zero_grad(set_to_none=True)
        loss_g.float().backward()
        opt_g.step()
        if ema_g is not None:
            _update_ema(ema_g, g, options["ema"], it)

        with torch.no_grad():
            step = torch.stack([loss_d.float(), loss_g.float(), torch.sigmoid(l_real.float()).mean(),
                                torch.sigmoid(l_fake.float()).mean()])
            finite = torch.isfinite(step[:2]).all().to(torch.int32)
            if distributed:  # every rank stops at the same iteration, or none does
                import torch.distributed as dist

                dist.all_reduce(finite, op=dist.ReduceOp.MIN)
            if not bool(finite):
                if bar is not None:
                    bar.close()
                diverged(it + 1, "the D loss" if not torch.isfinite(step[0]) else "the G loss")
            acc += step
        n_acc += 1
        done = it + 1
        if done % config.log_every == 0 or done == config.iters:
            vals = (acc / n_acc).tolist()
            now = time.perf_counter()
            rows.append({"iter": done, "loss_d": vals[0], "loss_g": vals[1], "d_real": vals[2],
                         "d_fake": vals[3], "sec_per_iter": (now - t_log) / n_acc})
            t_log, acc, n_acc = now, torch.zeros(4, device=dev), 0
            if bar is not None:
                bar.set_postfix(D=f"{vals[0]:.3f}", G=f"{vals[1]:.3f}", s_it=f"{rows[-1]['sec_per_iter']:.2f}")
        if bar is not None:
            bar.update(1)
        if is_main:
            if done % config.sample_every == 0 or done == config.iters:
                sample_grid(g_out, fixed_z, out / "samples" / f"iter_{done:07d}.png")
                sample_grid(g_out, fixed_z, out / "samples.png")
            if done % config.ckpt_every == 0 or done == config.iters:
                checkpoint(done)
            if config.snapshot_every and done % config.snapshot_every == 0:
                if not _all_finite(g_out, d):
                    diverged(done, "the weights")
                save_gan(out / "snapshots" / f"iter_{done:07d}.pt", g_out, d_out(), config.arch,
                         meta={"iteration": done, "data": config.data, "seed": config.seed},
                         storage_dtype=torch.float16)
                if quality is not None:
                    fd_rows.append({"iter": done, **quality.score(g_out, n=config.fd_n, seed=config.seed)})
                    _write_fd_rows(fd_rows, out / "snapshots.csv")
                    _plot_losses(rows, out / "losses.png", fd_rows)
                    if bar is not None:
                        fit = (f", fit {fd_rows[-1]['fit_psnr']:.2f} dB" if "fit_psnr" in fd_rows[-1] else "")
                        bar.write(f"iteration {done}: FD-R18 {fd_rows[-1]['fd_r18']:.3f}{fit}")
    if bar is not None:
        bar.close()
    if start >= config.iters and is_main:
        checkpoint(start)
    if distributed:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return ckpt_path


def _saved_iteration(path: Path) -> int | str:
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["train_state"]["iteration"])
    except Exception:  # noqa: BLE001 - only for a message
        return "?"


def export_generator(checkpoint: str | os.PathLike, out: str | os.PathLike,
                     storage_dtype: torch.dtype | None = torch.float16) -> Path:
    """Write a compact copy of a training checkpoint (G and D, no optimiser state), e.g. for release."""
    g, d, ckpt = load_gan(checkpoint)
    save_gan(out, g, d, ckpt["arch"], meta={**ckpt.get("meta", {}), "exported_from": str(checkpoint)},
             storage_dtype=storage_dtype)
    return Path(out)

