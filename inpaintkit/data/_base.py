"""Datasets as in-memory uint8 arrays, selected by a spec string (``npz:PATH``, ``synthetic-cars``...).

Every dataset is small enough at 32-128 px to hold in memory as uint8 NHWC, which lets the GAN
trainer, the classifier trainer and the benchmark index whole batches without a per-item loader.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..utils import Registry, from_uint8

__all__ = ["DATASETS", "register_dataset", "list_datasets", "build_dataset", "ArrayDataset",
           "DatasetError", "parse_data_spec", "resize_images", "IMAGE_EXTENSIONS", "read_image",
           "center_crop", "list_image_files", "load_image_files", "read_mat", "require_dir"]


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
        if self.images.shape[1] != self.images.shape[2]:
            raise DatasetError(f"{self.name}: images are {self.images.shape[1]}x{self.images.shape[2]} "
                               f"(height x width), but inpaintkit needs square images; centre-crop "
                               f"them first")
        if self.labels is not None:
            self.labels = np.asarray(self.labels).astype(np.int64)
            if self.labels.shape != (len(self.images),):
                raise DatasetError(f"{self.name}: {len(self.images)} images but labels of shape "
                                   f"{self.labels.shape}")

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:  # the dataclass default would print the whole image array
        n, h, w, _ = self.images.shape
        classes = "" if self.class_names is None else f", classes={len(self.class_names)}"
        labels = "labelled" if self.labels is not None else "unlabelled"
        return (f"ArrayDataset({self.name!r}, n={n}, size={h}x{w}, {labels}{classes}, "
                f"flip={self.flip}, extras={sorted(self.extras)})")

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


# --- helpers for the file-based datasets ------------------------------------------------------------

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")


def require_dir(arg: str | os.PathLike | None, usage: str) -> Path:
    """The folder named by a spec's argument, or a :class:`DatasetError` naming what is missing.

    Args:
        arg: the text after ``NAME:`` in the spec.
        usage: the spec's form for the error message, e.g. ``"folder:PATH"``.
    """
    if arg is None or str(arg).strip() == "":
        raise DatasetError(f"this dataset needs a folder: {usage}")
    path = Path(arg).expanduser()
    if not path.is_dir():
        raise DatasetError(f"folder not found: {path} (from {usage})")
    return path


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as uint8 RGB ``(H, W, 3)``; grey and RGBA images are converted.

    Raises:
        DatasetError: naming the file, when it is missing, truncated or not an image.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()                  # decode now, so that a truncated file fails here
            return np.array(im.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
        raise DatasetError(f"cannot read image file {path}: {e}") from e


def center_crop(image: np.ndarray, crop: int | None = None) -> np.ndarray:
    """The centred ``crop x crop`` square of an ``(H, W, C)`` image (default: the shorter side).

    Offsets are ``round((H - crop) / 2)`` with halves rounded up, as in DCGAN-tensorflow's
    ``center_crop`` (the convention of Yeh et al.'s CelebA crops).
    """
    h, w = image.shape[:2]
    c = min(h, w) if crop is None else int(crop)
    if not 0 < c <= min(h, w):
        raise DatasetError(f"cannot take a {c}x{c} centre crop of a {h}x{w} image")
    top, left = int(np.floor((h - c) / 2 + 0.5)), int(np.floor((w - c) / 2 + 0.5))
    return image[top:top + c, left:left + c]


def list_image_files(root: str | os.PathLike) -> list[Path]:
    """Image files under ``root``, recursively, in sorted order (hidden files skipped)."""
    root = Path(root)
    return sorted(p for p in root.rglob("*")
                  if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def load_image_files(paths: Sequence[str | os.PathLike], size: int,
                     transform: Callable[[np.ndarray, int], np.ndarray] | None = None,
                     desc: str = "images") -> np.ndarray:
    """Read, transform and resize image files into one uint8 ``(N, size, size, 3)`` array.

    Args:
        paths: image files.
        size: output side.
        transform: ``fn(image, i) -> image`` applied before resizing (a crop); ``i`` is the index.
        desc: progress bar label (the bar shows on a terminal only).

    Raises:
        DatasetError: naming the first file that cannot be read.
    """
    from tqdm import tqdm

    out = np.empty((len(paths), size, size, 3), np.uint8)
    for i, path in enumerate(tqdm(paths, desc=desc, unit="img", disable=None, leave=False)):
        img = read_image(path)
        if transform is not None:
            img = transform(img, i)
        if img.shape[0] != size or img.shape[1] != size:
            img = resize_images(np.ascontiguousarray(img)[None], size)[0]
        out[i] = img
    return out


def read_mat(path: str | os.PathLike, squeeze: bool = True) -> dict[str, Any]:
    """Read a MATLAB ``.mat`` file with :func:`scipy.io.loadmat`: its variables, without headers.

    Raises:
        DatasetError: naming the file, when it is missing or unreadable (including v7.3 files).
    """
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f".mat file not found: {path}")
    try:
        data = loadmat(path, squeeze_me=squeeze)
    except (MatReadError, OSError, ValueError, TypeError, NotImplementedError) as e:
        raise DatasetError(f"cannot read .mat file {path}: {e}") from e
    return {k: v for k, v in data.items() if not k.startswith("__")}
