"""Datasets as in-memory uint8 arrays, selected by a spec string (``npz:PATH``, ``synthetic-cars``...).

Every dataset is small enough at 32-128 px to hold in memory as uint8 NHWC, which lets the GAN
trainer, the classifier trainer and the benchmark index whole batches without a per-item loader.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from .._registry import Registry
from .._utils import from_uint8

__all__ = ["DATASETS", "register_dataset", "list_datasets", "build_dataset", "ArrayDataset",
           "DatasetError", "parse_data_spec"]


class DatasetError(ValueError):
    """A missing folder, an unreadable file or a malformed annotation; the message names the file."""


DATASETS: Registry[Callable[..., "ArrayDataset"]] = Registry("dataset")


def register_dataset(name: str):
    """Register ``fn(arg: str | None, split: str, image_size: int | None, seed: int) -> ArrayDataset``.

    ``arg`` is what follows the first ``:`` in the spec (a path or root), or None.
    """
    return DATASETS.register(name)


def list_datasets(pattern: str = "*") -> list[str]:
    return DATASETS.list(pattern)


@dataclass
class ArrayDataset(torch.utils.data.Dataset):
    """Images as uint8 ``(N, H, W, 3)``, with optional integer labels and class names.

    ``__getitem__`` returns ``(image, label)``: a float ``(3, H, W)`` tensor in [-1, 1] and an int
    (-1 when unlabelled). With ``flip=True`` each item is mirrored left-right with probability 1/2
    (the papers' augmentation; on by default for training).

    Attributes:
        extras: other per-image arrays the source provides, e.g. ``random_masks`` (N, H, W) bool.
    """

    images: np.ndarray
    labels: np.ndarray | None = None
    class_names: list[str] | None = None
    name: str = ""
    flip: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[-1] != 3:
            raise DatasetError(f"{self.name}: images must be uint8 (N, H, W, 3), got "
                               f"{self.images.dtype} {self.images.shape}")
        if self.labels is not None:
            self.labels = np.asarray(self.labels).astype(np.int64)
            if self.labels.shape != (len(self.images),):
                raise DatasetError(f"{self.name}: {len(self.images)} images but labels of shape "
                                   f"{self.labels.shape}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    @property
    def num_classes(self) -> int | None:
        if self.class_names is not None:
            return len(self.class_names)
        return None if self.labels is None else int(self.labels.max()) + 1

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = from_uint8(self.images[i])
        if self.flip and torch.rand(()) < 0.5:
            x = x.flip(-1)
        return x, (-1 if self.labels is None else int(self.labels[i]))

    def get_batch(self, index: np.ndarray | torch.Tensor | list[int],
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A whole batch at once: ``(B, 3, H, W)`` in [-1, 1] and ``(B,)`` labels (-1 if none).

        Flips (when ``self.flip``) are drawn from ``generator`` so a seeded run is reproducible.
        """
        index = np.asarray(index, dtype=np.int64)
        x = from_uint8(self.images[index])
        if self.flip:
            f = torch.rand(len(index), generator=generator) < 0.5
            x = torch.where(f[:, None, None, None], x.flip(-1), x)
        y = torch.full((len(index),), -1, dtype=torch.long) if self.labels is None \
            else torch.from_numpy(self.labels[index])
        return x, y

    def subset(self, index: np.ndarray | list[int]) -> "ArrayDataset":
        index = np.asarray(index, dtype=np.int64)
        extras = {k: (v[index] if isinstance(v, np.ndarray) and len(v) == len(self) else v)
                  for k, v in self.extras.items()}
        return ArrayDataset(self.images[index], None if self.labels is None else self.labels[index],
                            self.class_names, self.name, self.flip, extras)


def parse_data_spec(spec: str) -> tuple[str, str | None]:
    """``"npz:path/x.npz"`` -> ``("npz", "path/x.npz")``; ``"synthetic-cars"`` -> ``(name, None)``."""
    name, sep, arg = spec.partition(":")
    name = name.strip()
    DATASETS.get(name)  # raises, listing the known datasets
    return name, (arg if sep else None)


def build_dataset(spec: str, split: str = "train", image_size: int | None = None,
                  flip: bool | None = None, seed: int = 0) -> ArrayDataset:
    """Build a dataset from its spec string.

    Args:
        spec: ``NAME`` or ``NAME:ARG``; see :func:`list_datasets`.
        split: ``train`` or ``test`` where the source has splits (an npz file is its own split).
        image_size: resize to this side; None keeps the source's size.
        flip: random horizontal flips; default on for ``train``, off otherwise.
        seed: for generated datasets.
    """
    if split not in ("train", "test", "val"):
        raise DatasetError(f"split must be 'train', 'test' or 'val', got {split!r}")
    name, arg = parse_data_spec(spec)
    ds = DATASETS.get(name)(arg, split=split, image_size=image_size, seed=seed)
    ds.flip = (split == "train") if flip is None else flip
    if image_size is not None and ds.image_size != image_size:
        ds.images = resize_images(ds.images, image_size)
    return ds


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 NHWC images to ``size x size`` with antialiased bilinear interpolation."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    out = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                                          align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
