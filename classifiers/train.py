"""Training a classifier: the ETH recipe by default, plus what learning from scratch needs.

The default schedule is the ETH study's: Adam, batch 32, lr 1e-3, x0.1 after 35 and after 50
epochs, auxiliary-head losses weighted 0.3, horizontal flips. Everything else is an option
(:class:`TrainConfig`): a cosine schedule with warm-up, SGD/AdamW with weight decay, random shifts
or random-resized crops, colour jitter, mixup/CutMix and label smoothing (see
:mod:`classifiers.augment`).

Written into the output folder (only by rank 0 under ``torchrun``):

- ``metrics.csv``: one row per epoch: lr (at the epoch's last step), train/val loss, top-1, top-5,
  seconds; ``metrics.png``. Train numbers are running averages over the epoch's augmented batches:
  the loss is the optimised objective (auxiliary heads, label smoothing and mixing included), top-k
  is against each image's own label (before mixing). Validation numbers are plain cross-entropy and
  top-k of the main head in eval mode, without augmentation;
- ``best.pt``: the checkpoint with the best validation top-1 (train top-1 without ``--val``);
- ``last.pt``: the latest epoch with the optimizer state, for ``--resume``;
- ``config.json`` (the resolved :class:`TrainConfig`) and ``meta.json`` (argv, versions, commit).

Reproducibility: the shuffle of epoch ``e`` and the augmentation/dropout random numbers of rank
``r`` in epoch ``e`` come from generators seeded by ``(seed, e, r)``. Checkpoints are written at
epoch ends, so ``--resume`` continues exactly as if the run had never stopped.

Under ``torchrun`` (``WORLD_SIZE > 1``) training uses DistributedDataParallel (gloo on CPU, nccl on
CUDA): every rank takes its share of each global batch of ``batch_size`` images, and the metrics
are summed over ranks.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from inpaintkit.models import read_checkpoint
from inpaintkit.utils import (
    atomic_write_json,
    atomic_write_text,
    claim_run_dir,
    dist_env,
    resolve_device,
    run_metadata,
    save_figure,
    seed_everything,
    warn_if_slow_bf16,
)

from . import augment as A
from ._checkpoint import CLASSIFIER_FORMAT, save_classifier
from .config import DTYPES, TrainConfig, lr_at
from .features import Normalize
from .models import create_classifier

__all__ = ["TrainConfig", "train_classifier", "lr_at", "dataset_mean_std"]

#: ``meta.json``'s ``kind``: other commands refuse to write into a folder of this kind.
RUN_KIND = "inpaintkit.train-classifier"

# what --resume may change without breaking exact continuation ("epochs" extends a run)
_MAY_CHANGE_ON_RESUME = ("resume", "dry_run", "device", "threads", "epochs", "out", "eval_batch_size")


def dataset_mean_std(images: np.ndarray, chunk: int = 2048) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 NHWC images, on the [0, 1] scale."""
    s = np.zeros(3)
    s2 = np.zeros(3)
    for i in range(0, len(images), chunk):
        a = images[i:i + chunk].reshape(-1, 3).astype(np.float64) / 255.0
        s += a.sum(0)
        s2 += (a * a).sum(0)
    n = images.shape[0] * images.shape[1] * images.shape[2]
    mean = s / n
    std = np.sqrt(np.maximum(s2 / n - mean ** 2, 1e-12))
    return [float(m) for m in mean], [float(v) for v in std]


class _TrainForward(nn.Module):
    """normalise -> model.forward_train, as one module so DistributedDataParallel can wrap it."""

    def __init__(self, model: nn.Module, normalize: Normalize, channels_last: bool) -> None:
        super().__init__()
        self.model = model
        self.normalize = normalize
        self.channels_last = channels_last

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.normalize(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits, aux = self.model.forward_train(x)
        return (logits, *aux)


def _seed(*parts: int) -> int:
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h * 1_000_003 + int(p) + 1) % (2 ** 63 - 1)
    return h


def _topk_correct(logits: torch.Tensor, y: torch.Tensor) -> tuple[int, int]:
    k = min(5, logits.shape[1])
    top = logits.topk(k, dim=1).indices
    hit = top == y[:, None]
    return int(hit[:, 0].sum()), int(hit.any(1).sum())


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


@torch.no_grad()
def evaluate_model(model: nn.Module, normalize: Normalize, ds, device: torch.device,
                   batch_size: int = 256, bf16: bool = False, channels_last: bool = False,
                   index: np.ndarray | None = None, max_batches: int | None = None,
                   hole_specs: Sequence[str] = ()):
    """Yield ``(logits float32, labels)`` batch by batch over ``ds`` (or ``ds[index]``), in eval mode.

    With ``hole_specs``, image ``i`` of ``ds`` is seen with the hole of mask seed ``i`` (spec
    ``hole_specs[i % len(hole_specs)]``, :func:`classifiers.augment.hole_masks`), zero-filled.
    """
    model.eval()
    index = np.arange(len(ds)) if index is None else np.asarray(index)
    starts = range(0, len(index), batch_size)
    for bi, s in enumerate(starts):
        if max_batches is not None and bi >= max_batches:
            break
        x, y = ds.get_batch(index[s:s + batch_size])
        if hole_specs:
            x = x * A.hole_masks(hole_specs, x.shape[-1], index[s:s + batch_size].tolist())
        x = normalize(x.to(device))
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with _autocast(device, bf16):
            logits = model(x)
        yield logits.float(), y.to(device)


def _load_data(cfg: TrainConfig):
    from inpaintkit.data import DatasetError, build_dataset

    train = build_dataset(cfg.data, "train", image_size=cfg.image_size, flip=False, seed=cfg.seed)
    if train.labels is None:
        raise DatasetError(f"{cfg.data}: the training data has no labels; a classifier needs them")
    if train.images.shape[1] != train.images.shape[2]:
        raise DatasetError(f"{cfg.data}: images must be square, got {train.images.shape[1:3]}")
    num_classes = train.num_classes
    if train.labels.min() < 0 or train.labels.max() >= num_classes:
        raise DatasetError(f"{cfg.data}: labels must lie in [0, {num_classes}), got "
                           f"[{train.labels.min()}, {train.labels.max()}]")
    val = None
    if cfg.val:
        val = build_dataset(cfg.val, "test", image_size=cfg.image_size or train.image_size, flip=False,
                            seed=cfg.seed)
        if val.labels is None:
            raise DatasetError(f"{cfg.val}: the validation data has no labels")
        if val.labels.min() < 0 or val.labels.max() >= num_classes:
            raise DatasetError(f"{cfg.val}: labels outside the training data's {num_classes} classes")
        if train.class_names and val.class_names and list(train.class_names) != list(val.class_names):
            raise DatasetError(f"{cfg.val} and {cfg.data} name their classes differently")
    return train, val, num_classes


def _write_metrics(out: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out / "metrics.csv", buf.getvalue())
    try:
        _plot(out / "metrics.png", rows)
    except Exception as e:  # noqa: BLE001 - a failed plot must not stop training
        print(f"warning: could not draw metrics.png: {e}", file=sys.stderr)


def _plot(path: Path, rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [r["epoch"] for r in rows]

    def col(k):
        return [float("nan") if r[k] in ("", None) else float(r[k]) for r in rows]

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].plot(ep, col("train_loss"), label="train")
    ax[0].plot(ep, col("val_loss"), label="val")
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("cross-entropy")
    ax[0].legend()
    for k, style in (("top1", "-"), ("top5", "--")):
        ax[1].plot(ep, col(f"train_{k}"), style, color="C0", label=f"train {k}")
        ax[1].plot(ep, col(f"val_{k}"), style, color="C1", label=f"val {k}")
    if "val_masked_top1" in rows[0]:
        ax[1].plot(ep, col("val_masked_top1"), "-", color="C2", label="val top1, with holes")
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel("accuracy")
    ax[1].set_ylim(0, 1)
    ax[1].legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=90)


def train_classifier(config: TrainConfig | None = None, **kwargs: Any) -> dict[str, Any]:
    """Train a classifier; see the module docstring for what is written where.

    Args:
        config: a :class:`TrainConfig`, or pass its fields as keyword arguments.

    Returns:
        ``{"out", "best_top1", "best_epoch", "epochs_done", "last": last metrics row}``.

    Raises:
        DatasetError: missing data, no labels, mismatched validation classes.
        FileExistsError: ``out`` already holds a run and ``resume`` is off.
        FileNotFoundError: ``resume`` without ``out/last.pt``.
    """
    from tqdm.auto import tqdm

    cfg = config if config is not None else TrainConfig(**kwargs)
    if config is not None and kwargs:
        cfg = dataclasses.replace(cfg, **kwargs)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    env = dist_env()
    world, rank, local_rank = env.world_size, env.rank, env.local_rank
    device = resolve_device(cfg.device)
    if cfg.bf16:
        warn_if_slow_bf16(device, "train-classifier --bf16")
    if world > 1:
        import torch.distributed as dist

        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        own_group = not dist.is_initialized()
        if own_group:
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the {world} processes")
    out = Path(cfg.out)
    if rank == 0:
        claim_run_dir(out, RUN_KIND)
    last_path = out / "last.pt"
    ckpt = None
    if cfg.resume:
        if not last_path.is_file():
            raise FileNotFoundError(f"--resume: no {last_path} to resume from")
        ckpt = read_checkpoint(last_path)
        if ckpt.get("format") != CLASSIFIER_FORMAT or "train_state" not in ckpt:
            raise ValueError(f"{last_path} is not a resumable classifier checkpoint")
        if ckpt["arch"] != cfg.arch:
            raise ValueError(f"{last_path} is a {ckpt['arch']!r} run but --arch {cfg.arch!r} was given")
        saved = TrainConfig(**ckpt["train_state"]["config"]).to_dict()
        diff = [f"{k}: run {saved[k]!r}, now {v!r}" for k, v in cfg.to_dict().items()
                if k not in _MAY_CHANGE_ON_RESUME and saved.get(k) != v]
        if diff:
            raise ValueError(f"--resume with a different configuration would not continue the run "
                             f"exactly ({'; '.join(diff)})")
    elif last_path.exists():
        raise FileExistsError(f"{out} already holds a run (last.pt); pass --resume or another --out")

    seed_everything(cfg.seed)
    train_ds, val_ds, num_classes = _load_data(cfg)
    image_size = train_ds.image_size
    if ckpt is not None:
        mean, std = ckpt["config"]["mean"], ckpt["config"]["std"]
        if int(ckpt["config"]["num_classes"]) != num_classes:
            raise ValueError(f"{last_path} has {ckpt['config']['num_classes']} classes, the data {num_classes}")
    elif cfg.pretrained:
        mean, std = [0.5] * 3, [0.5] * 3
    elif cfg.init:
        init = read_checkpoint(cfg.init)
        if init.get("format") != CLASSIFIER_FORMAT:
            raise ValueError(f"--init {cfg.init} is not a classifier checkpoint")
        if init["arch"] != cfg.arch:
            raise ValueError(f"--init {cfg.init} is a {init['arch']!r} classifier but --arch {cfg.arch!r} was given")
        if int(init["config"]["num_classes"]) != num_classes:
            raise ValueError(f"--init {cfg.init} has {init['config']['num_classes']} classes, the data {num_classes}")
        if int(init["config"]["image_size"]) != image_size:
            raise ValueError(f"--init {cfg.init} is for {init['config']['image_size']} px images, the data "
                             f"has {image_size}")
        mean, std = init["config"]["mean"], init["config"]["std"]
    else:
        mean, std = dataset_mean_std(train_ds.images)

    model_kwargs = dict(cfg.model_kwargs)
    if cfg.pretrained and not cfg.arch.startswith("googlenet"):
        raise ValueError("--pretrained loads ImageNet GoogLeNet weights; it needs --arch googlenet")
    if cfg.pretrained:
        model_kwargs.setdefault("frozen", ["inception4a", "inception4b", "inception4c"])
    if ckpt is not None:
        model_kwargs = dict(ckpt["config"]["model_kwargs"])
    elif cfg.init:
        model_kwargs = {**init["config"]["model_kwargs"], **model_kwargs}
    model = create_classifier(cfg.arch, num_classes,
                              **({"pretrained": cfg.pretrained} if cfg.pretrained and ckpt is None else {}),
                              **model_kwargs)
    start = ckpt if ckpt is not None else init if cfg.init else None
    if start is not None:
        own = model.state_dict()
        model.load_state_dict({k: v.to(own[k].dtype) for k, v in start["state_dict"].items()})
    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    normalize = Normalize(mean, std).to(device)
    net: nn.Module = _TrainForward(model, normalize, cfg.channels_last)
    if world > 1:
        net = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
                              weight_decay=cfg.weight_decay)
    rows: list[dict[str, Any]] = []
    start_epoch, best_top1, best_epoch = 0, -1.0, -1
    if ckpt is not None:
        ts = ckpt["train_state"]
        opt.load_state_dict(ts["optimizer"])
        rows = list(ts["rows"])
        start_epoch, best_top1, best_epoch = int(ts["epoch"]), float(ts["best_top1"]), int(ts["best_epoch"])

    model_config = {"num_classes": num_classes, "image_size": image_size, "mean": list(mean),
                    "std": list(std), "model_kwargs": model_kwargs}
    resolved = {**cfg.to_dict(), "num_classes": num_classes, "image_size": image_size,
                "mean": mean, "std": std, "world_size": world,
                "train_images": len(train_ds), "val_images": None if val_ds is None else len(val_ds)}
    meta = {**run_metadata(resolved), "kind": RUN_KIND + "/1"}
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "config.json", resolved)
        atomic_write_json(out / ("meta.json" if ckpt is None else f"meta-resume-{start_epoch}.json"), meta)

    epochs = min(cfg.epochs, 2) if cfg.dry_run else cfg.epochs
    n = len(train_ds)
    nb = n // cfg.batch_size
    if nb == 0:
        raise ValueError(f"{cfg.data} has {n} images, fewer than one batch of {cfg.batch_size}")
    if cfg.dry_run:
        nb = min(nb, 2)
    class_names = train_ds.class_names
    interactive = sys.stderr.isatty()

    for epoch in range(start_epoch, epochs):
        t0 = time.perf_counter()
        shuffle_g = torch.Generator().manual_seed(_seed(cfg.seed, epoch))
        perm = torch.randperm(n, generator=shuffle_g).numpy()
        g = torch.Generator().manual_seed(_seed(cfg.seed, epoch, rank, 1))
        torch.manual_seed(_seed(cfg.seed, epoch, rank, 2))  # dropout
        net.train()
        stats = torch.zeros(4, dtype=torch.float64)  # loss*count, top1, top5, count
        bar = tqdm(range(nb), desc=f"epoch {epoch + 1}/{epochs}", disable=rank != 0, leave=False,
                   mininterval=0.5 if interactive else 60.0, file=sys.stderr)
        for i in bar:
            idx = perm[i * cfg.batch_size:(i + 1) * cfg.batch_size][rank::world]
            x, y = train_ds.get_batch(idx)
            if cfg.flip:
                x = A.random_flip(x, g)
            x = A.random_crop(x, cfg.crop, g, pad=cfg.pad, scale=cfg.crop_scale)
            x = A.color_jitter(x, cfg.jitter, g)
            x = A.mask_holes(x, cfg.mask_augment, cfg.mask_prob, cfg.mask_fill, g)
            x, ya, yb, lam = A.mix_batch(x, y, cfg.mixup, cfg.cutmix, cfg.mix_prob, g)
            x, ya, yb = x.to(device), ya.to(device), yb.to(device)
            lr = lr_at(cfg, epoch + i / nb)
            for group in opt.param_groups:
                group["lr"] = lr
            with _autocast(device, cfg.bf16):
                outs = net(x)

            def ce(z: torch.Tensor) -> torch.Tensor:
                z = z.float()
                loss = F.cross_entropy(z, ya, label_smoothing=cfg.label_smoothing)
                if lam < 1.0:
                    loss = lam * loss + (1 - lam) * F.cross_entropy(z, yb, label_smoothing=cfg.label_smoothing)
                return loss

            loss = ce(outs[0]) + cfg.aux_weight * sum((ce(a) for a in outs[1:]), torch.zeros((), device=device))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite training loss at epoch {epoch + 1}, batch {i}; lower --lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            c1, c5 = _topk_correct(outs[0].detach().float(), ya)
            stats += torch.tensor([float(loss.detach()) * len(ya), c1, c5, len(ya)], dtype=torch.float64)
            if rank == 0 and i % 10 == 0:
                bar.set_postfix(loss=f"{stats[0] / stats[3]:.3f}", top1=f"{stats[1] / stats[3]:.3f}",
                                lr=f"{lr:.1e}", refresh=interactive)
        bar.close()
        vstats = torch.zeros(4, dtype=torch.float64)
        mstats = torch.zeros(4, dtype=torch.float64)  # the same on masked val images
        if val_ds is not None:
            vidx = np.arange(len(val_ds))[rank::world]
            passes = [(vstats, ())] + ([(mstats, cfg.mask_augment)] if cfg.mask_augment else [])
            for acc, specs in passes:
                for logits, y in evaluate_model(model, normalize, val_ds, device, cfg.eval_batch_size,
                                                cfg.bf16, cfg.channels_last, vidx,
                                                max_batches=2 if cfg.dry_run else None, hole_specs=specs):
                    c1, c5 = _topk_correct(logits, y)
                    acc += torch.tensor([float(F.cross_entropy(logits, y, reduction="sum")), c1, c5, len(y)],
                                        dtype=torch.float64)
        if world > 1:
            import torch.distributed as dist

            both = torch.cat([stats, vstats, mstats]).to(device)  # nccl reduces CUDA tensors only
            dist.all_reduce(both)
            both = both.cpu()
            stats, vstats, mstats = both[:4], both[4:8], both[8:]
        seconds = time.perf_counter() - t0

        def frac(s: torch.Tensor, j: int) -> float | str:
            return round(float(s[j] / s[3]), 6) if s[3] > 0 else ""

        row = {"epoch": epoch + 1, "lr": lr_at(cfg, epoch + (nb - 1) / nb),
               "train_loss": frac(stats, 0), "train_top1": frac(stats, 1), "train_top5": frac(stats, 2),
               "val_loss": frac(vstats, 0), "val_top1": frac(vstats, 1), "val_top5": frac(vstats, 2),
               "seconds": round(seconds, 2)}
        if cfg.mask_augment:
            row["val_masked_top1"] = frac(mstats, 1)
        score = float(row["val_masked_top1" if cfg.mask_augment and val_ds is not None else
                          "val_top1" if val_ds is not None else "train_top1"])
        improved = score > best_top1
        if improved:
            best_top1, best_epoch = score, epoch + 1
        rows.append(row)
        if rank == 0:
            state_meta = {**meta, "epoch": epoch + 1, "metrics": row, "best_top1": best_top1,
                          "best_epoch": best_epoch}
            if improved:
                save_classifier(out / "best.pt", model, cfg.arch, model_config, class_names, state_meta,
                                storage_dtype=DTYPES[cfg.best_dtype])
            train_state = {"epoch": epoch + 1, "optimizer": opt.state_dict(), "rows": rows,
                           "best_top1": best_top1, "best_epoch": best_epoch, "config": cfg.to_dict()}
            save_classifier(last_path, model, cfg.arch, model_config, class_names, state_meta,
                            train_state=train_state)
            _write_metrics(out, rows)
            tqdm.write(f"epoch {epoch + 1}/{epochs}: " + ", ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
                if k != "epoch") + (" *" if improved else ""), file=sys.stderr)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        if own_group:
            dist.destroy_process_group()
    return {"out": str(out), "best_top1": best_top1, "best_epoch": best_epoch,
            "epochs_done": len(rows), "last": rows[-1] if rows else None}
