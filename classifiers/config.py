"""The configuration of a classifier training run, and its learning-rate schedule."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from . import augment as A

__all__ = ["TrainConfig", "lr_at", "DTYPES"]

#: ``best_dtype`` names and the storage dtypes they stand for.
DTYPES = {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class TrainConfig:
    """Everything a classifier training run depends on (written to ``config.json``).

    Attributes:
        data: training dataset spec (``npz:PATH``, ``synthetic-cars``...); must have labels.
        out: output folder.
        arch: ``googlenet``, ``googlenet_tiny`` or ``timm:NAME``.
        val: validation dataset spec (same classes), built with split ``test`` (a generated dataset
            such as ``synthetic-cars`` then draws images distinct from training); None selects
            the best epoch by train top-1.
        epochs: number of epochs.
        batch_size: global batch size (split across ranks under torchrun).
        lr: peak learning rate.
        optimizer: ``adam`` (ETH), ``adamw`` or ``sgd`` (Nesterov, ``momentum``).
        weight_decay: L2 (adam, sgd) or decoupled (adamw) weight decay.
        schedule: ``eth`` (x ``gamma`` at each of ``milestones``) or ``cosine`` (to ``min_lr``).
        warmup_epochs: linear warm-up from 0, in epochs (fractions allowed).
        aux_weight: weight of each auxiliary head's loss (GoogLeNet), 0.3 in the recipe.
        label_smoothing: cross-entropy label smoothing.
        flip: random horizontal flips.
        crop: ``none``, ``shift`` (pad ``pad`` px by reflection, crop back) or ``rrc`` (random
            resized crop of an area fraction in ``crop_scale``).
        jitter: colour-jitter strength (brightness, contrast, saturation in [1-s, 1+s]).
        mixup, cutmix: Beta alphas (0 = off); applied to a batch with probability ``mix_prob``.
        model_kwargs: extra architecture arguments (``width``, ``dropout``, ``drop_stem_pool``,
            timm ``create_model`` kwargs...), stored in the checkpoint.
        pretrained: ImageNet GoogLeNet state dict to start from (freezes inception 4a-4c and uses
            mean = std = 0.5, the input range those weights expect).
        init: a classifier checkpoint of this toolkit to fine-tune (same ``arch`` and classes); its
            weights, normalisation and ``model_kwargs`` are taken over.
        mask_augment: mask specs (``center``, ``left``, ``random:0.7``, ``blocks``...); a
            ``mask_prob`` share of every batch gets a hole of one of them, filled as ``mask_fill``
            says (:func:`classifiers.augment.mask_holes`). Validation then also reports
            ``val_masked_top1`` (every val image with a fixed mask of these specs, zero-filled as
            the losses' ``M*y``), and ``best.pt`` is chosen on it.
        mask_prob: share of the images that get a hole.
        mask_fill: hole fills to draw from: ``zero``, ``flat``, ``noise``.
        image_size: resize the data to this side; None keeps it.
        seed, device: as everywhere.
        bf16: bfloat16 autocast (CPU with AVX-512 BF16, or CUDA); weights stay fp32.
        channels_last: channels-last memory format (faster convolutions on CPU with bf16).
        threads: ``torch.set_num_threads`` (None leaves PyTorch's default).
        best_dtype: storage dtype of ``best.pt`` (``float16`` halves it; loading restores fp32).
        dry_run: 2 batches per epoch, 2 validation batches, at most 2 epochs: a smoke test.
        resume: continue from ``out/last.pt``.
        eval_batch_size: batch size for validation.
    """

    data: str
    out: str
    arch: str = "googlenet"
    val: str | None = None
    epochs: int = 60
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "eth"
    milestones: tuple[int, ...] = (35, 50)
    gamma: float = 0.1
    min_lr: float = 0.0
    warmup_epochs: float = 0.0
    aux_weight: float = 0.3
    label_smoothing: float = 0.0
    flip: bool = True
    crop: str = "shift"
    pad: int = 4
    crop_scale: tuple[float, float] = (0.35, 1.0)
    jitter: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0
    mix_prob: float = 0.5
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained: str | None = None
    init: str | None = None
    mask_augment: tuple[str, ...] = ()
    mask_prob: float = 0.75
    mask_fill: tuple[str, ...] = A.FILLS
    image_size: int | None = None
    seed: int = 0
    device: str | None = None
    bf16: bool = False
    channels_last: bool = False
    threads: int | None = None
    best_dtype: str = "float32"
    dry_run: bool = False
    resume: bool = False
    eval_batch_size: int = 256

    def __post_init__(self) -> None:
        self.milestones = tuple(int(m) for m in self.milestones)
        self.crop_scale = tuple(float(s) for s in self.crop_scale)  # type: ignore[assignment]
        self.mask_augment = tuple(self.mask_augment)
        self.mask_fill = tuple(self.mask_fill)
        checks = [
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 2, f"batch_size must be >= 2 (BatchNorm), got {self.batch_size}"),
            (self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (self.optimizer in ("adam", "adamw", "sgd"), f"optimizer must be adam, adamw or sgd, got {self.optimizer!r}"),
            (self.schedule in ("eth", "cosine"), f"schedule must be 'eth' or 'cosine', got {self.schedule!r}"),
            (self.crop in ("none", "shift", "rrc"), f"crop must be none, shift or rrc, got {self.crop!r}"),
            (0 < self.crop_scale[0] <= self.crop_scale[1] <= 1, f"crop_scale must be 0 < a <= b <= 1, got {self.crop_scale}"),
            (0 <= self.label_smoothing < 1, f"label_smoothing must be in [0, 1), got {self.label_smoothing}"),
            (self.best_dtype in DTYPES, f"best_dtype must be one of {sorted(DTYPES)}, got {self.best_dtype!r}"),
            (self.mixup >= 0 and self.cutmix >= 0 and 0 <= self.mix_prob <= 1, "mixup/cutmix alphas must be >= 0 and mix_prob in [0, 1]"),
            (0 <= self.mask_prob <= 1, f"mask_prob must be in [0, 1], got {self.mask_prob}"),
            (bool(self.mask_fill) and set(self.mask_fill) <= set(A.FILLS),
             f"mask_fill must be among {', '.join(A.FILLS)}, got {list(self.mask_fill)}"),
            (not (self.init and self.pretrained), "init and pretrained both set the starting weights; give one"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)
        if self.mask_augment:
            from inpaintkit.masks import check_mask_spec

            for spec in self.mask_augment:
                try:
                    check_mask_spec(spec)
                except KeyError as e:  # the registry's "unknown mask ..., known masks: ..."
                    raise ValueError(f"mask_augment: {e.args[0]}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def lr_at(cfg: TrainConfig, epoch: float) -> float:
    """The learning rate at a (fractional) epoch: warm-up, then the ETH steps or a cosine."""
    if cfg.warmup_epochs > 0 and epoch < cfg.warmup_epochs:
        return cfg.lr * (epoch + 1e-12) / cfg.warmup_epochs
    if cfg.schedule == "eth":
        return cfg.lr * cfg.gamma ** sum(int(epoch) >= m for m in cfg.milestones)
    t = (epoch - cfg.warmup_epochs) / max(cfg.epochs - cfg.warmup_epochs, 1e-12)
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * min(max(t, 0.0), 1.0)))
