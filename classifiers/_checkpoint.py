"""Self-describing classifier checkpoints, loaded with ``weights_only=True``.

A checkpoint is a plain dict of tensors and builtins::

    {"format": "inpaintkit.classifier/1", "arch": "googlenet" | "timm:NAME",
     "config": {"num_classes", "image_size", "mean", "std", "model_kwargs"},
     "state_dict": {...}, "meta": {...}, "class_names": [...] | None,
     "train_state": {...optional, last.pt only, for --resume...}}

so the classifier can be rebuilt without the script that trained it. ``mean``/``std`` are the
per-channel normalisation of [0, 1] images the classifier was trained with.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from inpaintkit.models import (
    CheckpointError,
    read_checkpoint,
    state_dict_for_storage,
    state_dict_mismatch,
)
from inpaintkit.utils import atomic_torch_save, resolve_device

from .features import ClassifierFeatures
from .models import create_classifier

__all__ = ["CLASSIFIER_FORMAT", "save_classifier", "load_classifier", "load_feature_network",
           "export_classifier"]

CLASSIFIER_FORMAT = "inpaintkit.classifier/1"
_CONFIG_KEYS = ("num_classes", "image_size", "mean", "std", "model_kwargs")


def save_classifier(path: str | os.PathLike, model: nn.Module, arch: str, config: dict[str, Any],
                    class_names: Sequence[str] | None = None, meta: dict[str, Any] | None = None,
                    train_state: dict[str, Any] | None = None,
                    storage_dtype: torch.dtype | None = None) -> None:
    """Write a classifier checkpoint atomically.

    Args:
        model: the classifier (unwrapped: not DDP).
        arch: the name it was built with (``googlenet``, ``timm:resnet18``...).
        config: ``num_classes``, ``image_size``, ``mean``, ``std``, ``model_kwargs``.
        storage_dtype: e.g. ``torch.float16`` to halve the file; loading restores fp32.
    """
    missing = [k for k in _CONFIG_KEYS if k not in config]
    if missing:
        raise ValueError(f"classifier config lacks {missing}")
    ckpt = {
        "format": CLASSIFIER_FORMAT,
        "arch": arch,
        "config": {k: config[k] for k in _CONFIG_KEYS},
        "state_dict": state_dict_for_storage(model.state_dict(), storage_dtype),
        "meta": meta or {},
        "class_names": None if class_names is None else [str(c) for c in class_names],
    }
    if train_state is not None:
        ckpt["train_state"] = train_state
    atomic_torch_save(ckpt, path)


def _check(ckpt: dict[str, Any], path: Path, arch: str | None, image_size: int | None) -> None:
    fmt = ckpt.get("format")
    if fmt != CLASSIFIER_FORMAT:
        raise CheckpointError(f"{path} is not a classifier checkpoint (format {fmt!r}, expected "
                              f"{CLASSIFIER_FORMAT!r})")
    cfg = ckpt.get("config")
    if not isinstance(cfg, dict) or any(k not in cfg for k in _CONFIG_KEYS):
        raise CheckpointError(f"{path}: malformed classifier config {cfg!r}")
    if arch is not None and ckpt.get("arch") != arch:
        raise CheckpointError(f"{path} is a {ckpt.get('arch')!r} classifier, but {arch!r} was requested")
    if image_size is not None and int(cfg["image_size"]) != int(image_size):
        raise CheckpointError(f"{path} was trained on {cfg['image_size']}x{cfg['image_size']} images, "
                              f"but {image_size}x{image_size} images are used here")


def load_classifier(path: str | os.PathLike, arch: str | None = None, image_size: int | None = None,
                    device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild ``(model, checkpoint)``: fp32, eval mode, on ``device``.

    Args:
        arch: if given, the checkpoint must be of this architecture.
        image_size: if given, the checkpoint must be for this image size.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: not a classifier checkpoint, another architecture or size, or weights that
            do not fit the architecture.
    """
    path = Path(path)
    ckpt = read_checkpoint(path)
    _check(ckpt, path, arch, image_size)
    cfg = ckpt["config"]
    try:
        model = create_classifier(ckpt["arch"], int(cfg["num_classes"]), **dict(cfg["model_kwargs"]))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot rebuild {ckpt['arch']!r} with {cfg}: {e}") from e
    own = model.state_dict()
    sd = ckpt["state_dict"]
    detail = state_dict_mismatch(model, sd)
    if detail:
        raise CheckpointError(f"{path}: weights do not fit {ckpt['arch']!r} ({detail})")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in sd.items()})
    return model.to(resolve_device(device)).eval(), ckpt


def load_feature_network(path: str | os.PathLike, layers: Sequence[str] | None = None,
                         device: str | torch.device = "cpu", arch: str | None = None,
                         image_size: int | None = None) -> ClassifierFeatures:
    """Load a classifier checkpoint as a frozen, fp32 feature network for ``sem`` / ``cat``.

    Args:
        path: a checkpoint written by ``train-classifier`` (``best.pt``) or :func:`save_classifier`.
        layers: the default layers to return (GoogLeNet default: ``inception3b``,
            ``inception4b``); names are checked.
        device: where to put it.
        arch, image_size: optional expectations, checked against the checkpoint.

    Returns:
        A :class:`~classifiers.features.ClassifierFeatures`: takes [-1, 1] images and applies the
        classifier's own normalisation inside.
    """
    model, ckpt = load_classifier(path, arch=arch, image_size=image_size, device=device)
    cfg = ckpt["config"]
    net = ClassifierFeatures(model, cfg["mean"], cfg["std"], default_layers=layers,
                             image_size=int(cfg["image_size"]))
    net.class_names = ckpt.get("class_names")
    net.arch = ckpt["arch"]
    return net.to(resolve_device(device))


def export_classifier(src: str | os.PathLike, dst: str | os.PathLike,
                      storage_dtype: torch.dtype | None = torch.float16) -> None:
    """Copy a checkpoint without its ``train_state``, optionally in fp16: for bundling."""
    src = Path(src)
    ckpt = read_checkpoint(src)
    _check(ckpt, src, None, None)
    ckpt.pop("train_state", None)
    ckpt["state_dict"] = state_dict_for_storage(ckpt["state_dict"], storage_dtype)
    atomic_torch_save(ckpt, dst)
