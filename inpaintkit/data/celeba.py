"""``celeba:ROOT``: aligned CelebA faces, centre-cropped as in Yeh et al.

Layout (as distributed by Liu et al. 2015)::

    ROOT/img_align_celeba/000001.jpg ...     178x218 aligned faces
    ROOT/list_eval_partition.txt             "000001.jpg 0" per line: 0 train, 1 val, 2 test

``ROOT/img_align_celeba/img_align_celeba/`` (the Kaggle copy), ``ROOT/Eval/list_eval_partition.txt``
and the Kaggle ``list_eval_partition.csv`` are accepted too. Without a partition file only the
``train`` split exists, holding every image.

Each face is the centred 108x108 crop resized to 64x64 (to ``image_size``): the convention of
DCGAN-tensorflow, on which Yeh et al. built their CelebA experiments.

References:
    Z. Liu, P. Luo, X. Wang, X. Tang. Deep Learning Face Attributes in the Wild. ICCV 2015.
    R. A. Yeh et al. Semantic Image Inpainting with Deep Generative Models. CVPR 2017.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._base import (
    ArrayDataset,
    DatasetError,
    center_crop,
    load_image_files,
    register_dataset,
    require_dir,
)

__all__ = ["celeba", "CELEBA_CROP"]

CELEBA_CROP = 108
_PARTITION = {"train": 0, "val": 1, "test": 2}


def _image_dir(root: Path) -> Path:
    for d in (root / "img_align_celeba" / "img_align_celeba", root / "img_align_celeba"):
        if d.is_dir() and any(d.glob("*.jpg")):
            return d
    raise DatasetError(f"celeba: no aligned images found: expected {root / 'img_align_celeba'}/"
                       f"*.jpg")


def _read_partition(path: Path) -> dict[str, int]:
    """``{file name: partition}`` from list_eval_partition.txt (or the Kaggle .csv)."""
    out: dict[str, int] = {}
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"cannot read {path}: {e}") from e
    for k, line in enumerate(lines, 1):
        parts = line.replace(",", " ").split()
        if not parts or (k == 1 and parts[0] == "image_id"):
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise DatasetError(f"{path}, line {k}: expected '<image> <0|1|2>', got {line!r}")
        out[parts[0]] = int(parts[1])
    if not out:
        raise DatasetError(f"{path} lists no images")
    return out


@register_dataset("celeba")
def celeba(arg: str | None, split: str = "train", image_size: int | None = None,
           seed: int = 0) -> ArrayDataset:
    """celeba:ROOT -- aligned CelebA faces, 108x108 centre crop resized to 64 (Yeh et al.).

    Args:
        arg: ROOT, holding ``img_align_celeba/`` and optionally ``list_eval_partition.txt``.
        split: ``train``, ``val`` or ``test`` by the official partition.
        image_size: output side, default 64.
        seed: unused.

    Returns:
        An unlabelled :class:`ArrayDataset` with ``extras["fname"]``.
    """
    root = require_dir(arg, "celeba:ROOT")
    if split not in _PARTITION:
        raise DatasetError(f"celeba has the splits train, val and test, got {split!r}")
    img_dir = _image_dir(root)
    part_file = next((p for p in (root / "list_eval_partition.txt",
                                  root / "Eval" / "list_eval_partition.txt",
                                  root / "list_eval_partition.csv") if p.is_file()), None)
    if part_file is None:
        if split != "train":
            raise DatasetError(f"celeba: no list_eval_partition.txt in {root}, so only split "
                               f"'train' (every image) exists; got {split!r}")
        names = sorted(p.name for p in img_dir.glob("*.jpg"))
    else:
        names = sorted(n for n, s in _read_partition(part_file).items() if s == _PARTITION[split])
        if not names:
            raise DatasetError(f"{part_file} lists no images for split {split!r}")
    size = 64 if image_size is None else int(image_size)
    images = load_image_files([img_dir / n for n in names], size,
                              transform=lambda im, i: center_crop(im, CELEBA_CROP),
                              desc=f"celeba {split}")
    return ArrayDataset(images, None, None, name=f"celeba:{root}",
                        extras={"fname": np.array(names)})
