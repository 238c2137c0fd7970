"""``folder:PATH``: any folder of images, read recursively, centre-cropped and resized.

Labels come from the immediate subfolders of PATH when every image lies in one and there are at
least two of them (``PATH/<class>/.../*.jpg``, as torchvision's ``ImageFolder``); otherwise the
images are unlabelled. When PATH has ``train/``, ``test/`` or ``val/`` subfolders, the split picks
one of them; otherwise PATH is the data for every split (like an ``npz`` file).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._base import (
    IMAGE_EXTENSIONS,
    ArrayDataset,
    DatasetError,
    center_crop,
    list_image_files,
    load_image_files,
    register_dataset,
    require_dir,
)

__all__ = ["image_folder"]

_SPLITS = ("train", "test", "val")


@register_dataset("folder")
def image_folder(arg: str | None, split: str = "train", image_size: int | None = None,
                 seed: int = 0) -> ArrayDataset:
    """folder:PATH -- every image under a folder (recursive), centre crop and resize to 64.

    Args:
        arg: PATH, the folder (searched recursively; hidden files are skipped).
        split: picks ``PATH/<split>/`` when PATH has split subfolders.
        image_size: output side, default 64.
        seed: unused.

    Returns:
        An :class:`ArrayDataset`, labelled by subfolder when there are several class folders, with
        ``extras["path"]``: each image's path relative to the folder.
    """
    root = require_dir(arg, "folder:PATH")
    present = [s for s in _SPLITS if (root / s).is_dir()]
    if present:
        if split not in present:
            raise DatasetError(f"folder {root} has split folders {', '.join(present)} but no "
                               f"{split!r}")
        root = root / split
    paths = list_image_files(root)
    if not paths:
        raise DatasetError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) under {root}")
    rel = [p.relative_to(root) for p in paths]
    tops = [r.parts[0] if len(r.parts) > 1 else None for r in rel]
    labels = class_names = None
    if None not in tops and len(set(tops)) >= 2:
        class_names = sorted(set(tops))
        index = {c: i for i, c in enumerate(class_names)}
        labels = np.array([index[t] for t in tops], np.int64)
    size = 64 if image_size is None else int(image_size)
    images = load_image_files(paths, size, transform=lambda im, i: center_crop(im),
                              desc=f"folder {Path(root).name}")
    return ArrayDataset(images, labels, class_names, name=f"folder:{root}",
                        extras={"path": np.array([str(r) for r in rel])})
