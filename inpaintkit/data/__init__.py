"""Datasets, selected everywhere by a spec string such as ``npz:PATH`` or ``synthetic-cars``.

Registered datasets (``inpaintkit data list``):

- ``synthetic-cars[:N]``: procedural side-view cars in 10 body styles (the built-in default).
- ``npz:PATH``: arrays (``images`` uint8 NHWC, optional ``labels``, ``class_names``).
- ``stanford-cars:ROOT``: the official Stanford Cars layout, cropped to the bounding boxes.
- ``folder:PATH``: any image folder, recursive, centre crop and resize.
- ``celeba:ROOT``: aligned CelebA, 108x108 centre crop resized to 64 (Yeh et al.).
- ``svhn:PATH``: SVHN ``.mat`` files.
"""
from __future__ import annotations

from . import celeba, folder, npz, stanford_cars, svhn, synthetic  # noqa: F401  (registration)
from ._base import (
    DATASETS,
    IMAGE_EXTENSIONS,
    ArrayDataset,
    DatasetError,
    build_dataset,
    center_crop,
    list_datasets,
    list_image_files,
    load_image_files,
    parse_data_spec,
    read_image,
    read_mat,
    register_dataset,
    require_dir,
    resize_images,
)
from .preview import image_grid, save_preview
from .synthetic import BODY_STYLES, SYNTHETIC_CLASS_NAMES, render_synthetic_cars

DEFAULT_DATASET = "synthetic-cars"

__all__ = ["DATASETS", "DEFAULT_DATASET", "ArrayDataset", "DatasetError", "build_dataset",
           "list_datasets", "parse_data_spec", "register_dataset", "resize_images",
           "IMAGE_EXTENSIONS", "read_image", "read_mat", "center_crop", "list_image_files",
           "load_image_files", "require_dir", "image_grid", "save_preview", "BODY_STYLES",
           "SYNTHETIC_CLASS_NAMES", "render_synthetic_cars"]
