"""``stanford-cars:ROOT``: the official Stanford Cars layout, cropped to the bounding boxes.

Layout (as distributed by Krause et al. 2013)::

    ROOT/cars_train/00001.jpg ...            training images
    ROOT/cars_test/00001.jpg ...             test images
    ROOT/devkit/cars_meta.mat                class_names (196,)
    ROOT/devkit/cars_train_annos.mat         annotations: bbox_x1..bbox_y2, class, fname
    ROOT/cars_test_annos_withlabels.mat      the same for the test images (released later)

Every ``.mat`` file is also accepted directly in ROOT or in ROOT/devkit. Without
``cars_test_annos_withlabels.mat`` the test split falls back to ``devkit/cars_test_annos.mat``,
which has boxes but no classes, so the test images come unlabelled.

Each image is cropped to its bounding box (1-based, inclusive corners, clamped to the image) and
resized to ``image_size x image_size`` without keeping the aspect ratio, which is how the
classifier-loss study made its 64x64 crops (papers/003, Sec. 4).

References:
    J. Krause, M. Stark, J. Deng, L. Fei-Fei. 3D Object Representations for Fine-Grained
    Categorization. 3dRR-13, 2013.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._base import (
    ArrayDataset,
    DatasetError,
    load_image_files,
    read_mat,
    register_dataset,
    require_dir,
)

__all__ = ["stanford_cars", "read_cars_annotations", "read_cars_class_names"]

_BOX = ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2")
_ANNOTATIONS = {
    "train": ("cars_train_annos.mat",),
    "test": ("cars_test_annos_withlabels.mat", "cars_test_annos.mat"),
}


def _find(root: Path, names: tuple[str, ...]) -> Path:
    """The first of ``names`` found in ROOT or ROOT/devkit."""
    for name in names:
        for folder in (root, root / "devkit"):
            if (folder / name).is_file():
                return folder / name
    raise DatasetError(f"stanford-cars: none of {', '.join(names)} found in {root} or "
                       f"{root / 'devkit'}")


def read_cars_class_names(path: str | Path) -> list[str]:
    """Class names from ``cars_meta.mat`` (196 names, class k is ``names[k - 1]``)."""
    data = read_mat(path)
    if "class_names" not in data:
        raise DatasetError(f"{path}: no 'class_names' variable (found {sorted(data)})")
    return [str(n) for n in np.atleast_1d(data["class_names"]).ravel()]


def read_cars_annotations(path: str | Path, need_class: bool = True) -> dict[str, np.ndarray]:
    """Read a devkit annotation file.

    Args:
        path: ``cars_train_annos.mat``, ``cars_test_annos_withlabels.mat`` or
            ``cars_test_annos.mat``.
        need_class: raise if the ``class`` field is missing.

    Returns:
        ``{"fname": (N,) str, "bbox": (N, 4) int64 x1, y1, x2, y2 (1-based, inclusive),
        "class": (N,) int64 1-based}``; ``class`` is absent when the file has none.

    Raises:
        DatasetError: naming the file, when the ``annotations`` struct or one of its fields is
            missing or holds non-numeric boxes.
    """
    data = read_mat(path)
    if "annotations" not in data:
        raise DatasetError(f"{path}: no 'annotations' variable (found {sorted(data)})")
    ann = np.atleast_1d(data["annotations"])
    fields = ann.dtype.names or ()
    required = _BOX + ("fname",) + (("class",) if need_class else ())
    missing = [f for f in required if f not in fields]
    if missing:
        raise DatasetError(f"{path}: annotations lack the field(s) {', '.join(missing)} "
                           f"(found {', '.join(fields) or 'none'})")
    try:
        out = {"fname": np.array([str(f) for f in ann["fname"]]),
               "bbox": np.stack([ann[f].astype(np.int64) for f in _BOX], axis=1)}
        if "class" in fields:
            out["class"] = ann["class"].astype(np.int64)
    except (TypeError, ValueError) as e:
        raise DatasetError(f"{path}: malformed annotation values: {e}") from e
    return out


def _bbox_crop(image: np.ndarray, box: np.ndarray, name: str) -> np.ndarray:
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (int(v) for v in box)
    x1, y1, x2, y2 = max(x1, 1), max(y1, 1), min(x2, w), min(y2, h)
    if x2 < x1 or y2 < y1:
        raise DatasetError(f"stanford-cars: empty bounding box {tuple(int(v) for v in box)} for "
                           f"{name} ({w}x{h})")
    return image[y1 - 1:y2, x1 - 1:x2]


@register_dataset("stanford-cars")
def stanford_cars(arg: str | None, split: str = "train", image_size: int | None = None,
                  seed: int = 0) -> ArrayDataset:
    """stanford-cars:ROOT -- the official Stanford Cars layout, cropped to the bounding boxes.

    Args:
        arg: ROOT, the folder holding ``cars_train/``, ``cars_test/`` and the devkit files.
        split: ``train`` or ``test``.
        image_size: output side, default 64.
        seed: unused (the data is fixed).

    Returns:
        An :class:`ArrayDataset` with ``labels`` = class - 1 (0..195) and the 196 ``class_names``
        (unlabelled test images when only ``cars_test_annos.mat`` is present), and
        ``extras["fname"]``, the source file of each image.
    """
    root = require_dir(arg, "stanford-cars:ROOT")
    if split not in _ANNOTATIONS:
        raise DatasetError(f"stanford-cars has the splits 'train' and 'test', got {split!r}")
    size = 64 if image_size is None else int(image_size)
    names = read_cars_class_names(_find(root, ("cars_meta.mat",)))
    ann_path = _find(root, _ANNOTATIONS[split])
    ann = read_cars_annotations(ann_path, need_class=(split == "train"))
    img_dir = root / f"cars_{split}"
    if not img_dir.is_dir():
        raise DatasetError(f"stanford-cars: image folder not found: {img_dir}")
    labels = None
    if "class" in ann:
        bad = (ann["class"] < 1) | (ann["class"] > len(names))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DatasetError(f"{ann_path}: class {int(ann['class'][i])} of {ann['fname'][i]} "
                               f"is outside 1..{len(names)} (cars_meta.mat has {len(names)} names)")
        labels = ann["class"] - 1
    paths = [img_dir / f for f in ann["fname"]]
    images = load_image_files(
        paths, size, transform=lambda im, i: _bbox_crop(im, ann["bbox"][i], str(paths[i])),
        desc=f"stanford-cars {split}")
    return ArrayDataset(images, labels, names, name=f"stanford-cars:{root}",
                        extras={"fname": ann["fname"]})
