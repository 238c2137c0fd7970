"""``svhn:PATH``: Street View House Numbers, cropped digits, from the official ``.mat`` files.

PATH is a folder holding ``train_32x32.mat`` and ``test_32x32.mat`` (the split picks one), or one
``.mat`` file (e.g. ``extra_32x32.mat``), which is then the data for every split. Each file holds
``X`` uint8 (32, 32, 3, N) and ``y`` (N, 1) with labels 1..10, where 10 stands for the digit 0.

References:
    Y. Netzer et al. Reading Digits in Natural Images with Unsupervised Feature Learning.
    NIPS Workshop on Deep Learning and Unsupervised Feature Learning, 2011.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._base import ArrayDataset, DatasetError, read_mat, register_dataset, resize_images

__all__ = ["svhn", "SVHN_CLASS_NAMES"]

SVHN_CLASS_NAMES = [str(d) for d in range(10)]


@register_dataset("svhn")
def svhn(arg: str | None, split: str = "train", image_size: int | None = None,
         seed: int = 0) -> ArrayDataset:
    """svhn:PATH -- SVHN digits from the .mat files; labels 0..9 (the file's 10 becomes 0).

    Args:
        arg: PATH, a folder with ``{train,test}_32x32.mat`` or one ``.mat`` file.
        split: ``train`` or ``test`` (with a folder).
        image_size: resize to this side; default: the native 32.
        seed: unused.
    """
    if not arg:
        raise DatasetError("this dataset needs a path: svhn:PATH (a folder or a .mat file)")
    path = Path(arg).expanduser()
    if path.is_dir():
        if split not in ("train", "test"):
            raise DatasetError(f"svhn has the splits 'train' and 'test', got {split!r}")
        path = path / f"{split}_32x32.mat"
    elif not path.is_file():
        raise DatasetError(f"svhn: no such folder or .mat file: {path}")
    data = read_mat(path, squeeze=False)
    missing = [k for k in ("X", "y") if k not in data]
    if missing:
        raise DatasetError(f"{path}: no {' or '.join(repr(k) for k in missing)} variable "
                           f"(found {sorted(data)})")
    x, y = np.asarray(data["X"]), np.asarray(data["y"]).ravel()
    if x.ndim != 4 or x.shape[2] != 3 or x.shape[3] != y.size:
        raise DatasetError(f"{path}: expected X of shape (H, W, 3, N) and N labels, got X "
                           f"{x.shape} and {y.size} labels")
    if y.size and (y.min() < 0 or y.max() > 10):
        raise DatasetError(f"{path}: labels must be 1..10 (10 = digit 0), found "
                           f"{y.min()}..{y.max()}")
    images = np.ascontiguousarray(x.transpose(3, 0, 1, 2)).astype(np.uint8, copy=False)
    if image_size is not None and int(image_size) != images.shape[1]:
        images = resize_images(images, int(image_size))
    return ArrayDataset(images, y.astype(np.int64) % 10, list(SVHN_CLASS_NAMES),
                        name=f"svhn:{path}")
