"""``npz:PATH``: arrays as in the shared Stanford Cars 64 folder.

Keys: ``images`` uint8 (N, H, W, 3); optional ``labels`` (N,), ``class_names`` (K,), and any
other per-image array (e.g. ``random_masks`` (N, H, W) bool), which lands in ``extras``.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ._base import ArrayDataset, DatasetError, register_dataset


@register_dataset("npz")
def npz_dataset(arg: str | None, split: str = "train", image_size: int | None = None,
                seed: int = 0) -> ArrayDataset:
    """npz:PATH -- arrays in an .npz file (images, optional labels and class_names).

    The file is the split, so ``split`` only sets the flip default."""
    if not arg:
        raise DatasetError("npz dataset needs a path: npz:PATH")
    path = Path(arg).expanduser()
    if not path.is_file():
        raise DatasetError(f"npz file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise DatasetError(f"{path} is not an npz file (not a zip archive of .npy arrays)")
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise DatasetError(f"cannot read npz file {path}: {e}") from e
    if "images" not in data:
        raise DatasetError(f"{path} has no 'images' array (keys: {sorted(data)})")
    images = data.pop("images")
    labels = data.pop("labels", None)
    names = data.pop("class_names", None)
    extras = dict(data)
    return ArrayDataset(images, labels, None if names is None else [str(n) for n in names],
                        name=f"npz:{path}", extras=extras)
