"""Self-describing GAN checkpoints, loaded with ``weights_only=True``.

A checkpoint is a plain dict of tensors and builtins::

    {"format": "inpaintkit.dcgan/1", "arch": "dcgan_64", "config": {...DCGANConfig...},
     "state_dict": {"generator": {...}, "discriminator": {...}},
     "meta": {...training metadata...}, "train_state": {...optional, for --resume...}}

so a model can be rebuilt without the script that trained it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..utils import atomic_torch_save
from ._registry import MODELS
from .dcgan import DCGANConfig, Discriminator, Generator

__all__ = ["CheckpointError", "save_gan", "load_gan", "read_checkpoint", "GAN_FORMAT"]

GAN_FORMAT = "inpaintkit.dcgan/1"


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or for another architecture."""


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"cannot read checkpoint {path}: the file is empty (0 bytes), e.g. "
                              f"an interrupted copy")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - re-raised with the file name
        why = " ".join(str(e).split()) or type(e).__name__
        if len(why) > 300:  # the weights_only refusal explains itself at length
            why = why[:300] + "..."
        raise CheckpointError(f"cannot read checkpoint {path}: {why}") from e
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} is not an inpaintkit checkpoint (got {type(ckpt).__name__})")
    return ckpt


def state_dict_for_storage(sd: dict[str, torch.Tensor],
                           dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    """A CPU copy of ``sd`` to save, floating-point tensors cast to ``dtype`` (None: kept as they
    are); loading casts them back to the model's own dtypes."""
    if dtype is None:
        return {k: v.detach().cpu().clone() for k, v in sd.items()}
    return {k: (v.detach().cpu().to(dtype) if v.is_floating_point() else v.detach().cpu().clone())
            for k, v in sd.items()}


def save_gan(path: str | os.PathLike, generator: Generator, discriminator: Discriminator | None,
             arch: str, meta: dict[str, Any] | None = None,
             train_state: dict[str, Any] | None = None,
             storage_dtype: torch.dtype | None = None) -> None:
    """Write a self-describing checkpoint atomically.

    Args:
        storage_dtype: e.g. ``torch.float16`` to halve the file; :func:`load_gan` restores fp32.
    """
    sd = {"generator": state_dict_for_storage(generator.state_dict(), storage_dtype)}
    if discriminator is not None:
        sd["discriminator"] = state_dict_for_storage(discriminator.state_dict(), storage_dtype)
    ckpt = {
        "format": GAN_FORMAT,
        "arch": arch,
        "config": generator.config.to_dict(),
        "state_dict": sd,
        "meta": meta or {},
    }
    if train_state is not None:
        ckpt["train_state"] = train_state
    atomic_torch_save(ckpt, path)


def state_dict_mismatch(module: torch.nn.Module, sd: dict[str, torch.Tensor]) -> str:
    """How ``sd`` does not fit ``module``: its first missing and unexpected keys and shape
    differences, ``""`` when it fits. The checkpoint loaders put it into their errors."""
    own = module.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    bad = [f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
           for k in own if k in sd and sd[k].shape != own[k].shape]
    return "; ".join(([f"missing {missing[:3]}"] if missing else [])
                     + ([f"unexpected {unexpected[:3]}"] if unexpected else []) + bad[:3])


def load_state(module: torch.nn.Module, sd: dict[str, torch.Tensor], what: str, path: Path) -> None:
    """Load checkpoint weights into ``module``, cast to its dtypes, after checking them.

    Raises:
        CheckpointError: NaN or inf weights (a diverged training run), or weights that do not fit
            the architecture (:func:`state_dict_mismatch`), naming ``what`` and ``path``.
    """
    own = module.state_dict()
    bad = [k for k, v in sd.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
           and not bool(torch.isfinite(v).all())]
    if bad:  # a diverged training run: every output would be NaN
        raise CheckpointError(f"{path}: the {what} weights hold NaN or inf ({', '.join(bad[:3])}"
                              f"{'...' if len(bad) > 3 else ''}); the training that wrote it diverged")
    detail = state_dict_mismatch(module, sd)
    if detail:
        raise CheckpointError(f"{path}: {what} weights do not fit the architecture ({detail})")
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in sd.items()})


def load_gan(path: str | os.PathLike, image_size: int | None = None, arch: str | None = None,
             device: str | torch.device = "cpu", with_discriminator: bool = True,
             ) -> tuple[Generator, Discriminator | None, dict[str, Any]]:
    """Rebuild ``(G, D, checkpoint)`` from a checkpoint, in eval mode, fp32, on ``device``.

    Args:
        image_size: if given, the checkpoint must be for this image size.
        arch: if given, the checkpoint must be for this registered architecture.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: not a DCGAN checkpoint, another architecture or image size, weights
            that do not fit their declared config, or non-finite weights.
    """
    path = Path(path)
    ckpt = read_checkpoint(path)
    fmt = ckpt.get("format")
    if fmt != GAN_FORMAT:
        raise CheckpointError(f"{path} is not a DCGAN checkpoint (format {fmt!r}, expected {GAN_FORMAT!r})")
    if ckpt.get("arch") not in MODELS:
        raise CheckpointError(f"{path}: unknown architecture {ckpt.get('arch')!r}; known: {MODELS.list()}")
    if arch is not None and ckpt["arch"] != arch:
        raise CheckpointError(f"{path} is a {ckpt['arch']!r} checkpoint, but {arch!r} was requested")
    missing = [k for k in ("config", "state_dict") if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: not a complete DCGAN checkpoint, it lacks {missing} "
                              f"(keys: {sorted(ckpt)})")
    if not isinstance(ckpt["state_dict"], dict) or "generator" not in ckpt["state_dict"]:
        raise CheckpointError(f"{path}: 'state_dict' must be a dict holding 'generator' "
                              f"(and 'discriminator') weights")
    try:
        config = DCGANConfig(**ckpt["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: malformed config {ckpt.get('config')!r}: {e}") from e
    if image_size is not None and config.image_size != image_size:
        raise CheckpointError(
            f"{path} is for {config.image_size}x{config.image_size} images ({ckpt['arch']}), "
            f"but the data is {image_size}x{image_size}"
        )
    g = Generator(config)
    load_state(g, ckpt["state_dict"]["generator"], "generator", path)
    d = None
    if with_discriminator:
        if "discriminator" not in ckpt["state_dict"]:
            raise CheckpointError(f"{path} holds no discriminator, which the prior/inpaint losses need")
        d = Discriminator(config)
        load_state(d, ckpt["state_dict"]["discriminator"], "discriminator", path)
        d = d.to(device).eval()
    return g.to(device).eval(), d, ckpt
