"""Datasets, selected everywhere by a spec string such as ``npz:PATH`` or ``synthetic-cars``."""
from __future__ import annotations

from . import npz  # noqa: F401  (registers "npz")
from ._base import (DATASETS, ArrayDataset, DatasetError, build_dataset, list_datasets,
                    parse_data_spec, register_dataset, resize_images)

__all__ = ["DATASETS", "ArrayDataset", "DatasetError", "build_dataset", "list_datasets",
           "parse_data_spec", "register_dataset", "resize_images"]
