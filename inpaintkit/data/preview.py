"""Sample grids of a dataset, labelled with class names where the dataset has them."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np

from ..utils import atomic_write_json, check_writable, run_metadata, save_figure
from ._base import ArrayDataset, build_dataset

__all__ = ["image_grid", "sample_indices", "save_preview", "preview_dataset"]


def image_grid(images: np.ndarray, ncol: int | None = None, pad: int = 2,
               pad_value: int = 255) -> np.ndarray:
    """Tile uint8 ``(N, H, W, 3)`` images into one uint8 ``(rows*(H+pad)+pad, ..., 3)`` image.

    Args:
        images: uint8 NHWC.
        ncol: images per row; default ``ceil(sqrt(N))``.
        pad: pixels between and around the tiles.
        pad_value: grey level of the padding.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"image_grid needs uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
    n, h, w, _ = images.shape
    ncol = max(1, int(np.ceil(np.sqrt(n)))) if ncol is None else int(ncol)
    nrow = max(1, -(-n // ncol))
    grid = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, 3), pad_value, np.uint8)
    for i in range(n):
        r, c = divmod(i, ncol)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h,
             pad + c * (w + pad):pad + c * (w + pad) + w] = images[i]
    return grid


def sample_indices(dataset: ArrayDataset, n: int, seed: int = 0) -> np.ndarray:
    """``n`` distinct indices drawn with ``seed``, sorted by label when the dataset has labels."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(dataset), size=min(n, len(dataset)), replace=False))
    if dataset.labels is not None:
        idx = idx[np.argsort(dataset.labels[idx], kind="stable")]
    return idx


def save_preview(dataset: ArrayDataset, out: str | os.PathLike, n: int = 64, seed: int = 0,
                 ncol: int | None = None, title: str | None = None) -> Path:
    """Write a PNG grid of ``n`` random samples, each captioned with its class name if any.

    Args:
        dataset: the dataset (flips are not applied: the stored images are shown).
        out: PNG path (written atomically; parent folders are created).
        n: number of samples (at most the dataset's size).
        seed: which samples.
        ncol: grid columns; default ``ceil(sqrt(n))``.
        title: figure title; default the dataset name, size and image count.

    Returns:
        The path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    idx = sample_indices(dataset, n, seed)
    k = len(idx)
    ncol = max(1, int(np.ceil(np.sqrt(k)))) if ncol is None else int(ncol)
    nrow = -(-k // ncol)
    labelled = dataset.labels is not None
    cell_h = 1.45 if labelled else 1.2
    fig = Figure(figsize=(1.2 * ncol, cell_h * nrow + 0.5), dpi=100)
    FigureCanvasAgg(fig)
    for j, i in enumerate(idx):
        ax = fig.add_subplot(nrow, ncol, j + 1)
        ax.imshow(dataset.images[i], interpolation="nearest")
        ax.set_axis_off()
        if labelled:
            y = int(dataset.labels[i])
            name = (dataset.class_names[y] if dataset.class_names is not None
                    and 0 <= y < len(dataset.class_names) else str(y))
            ax.set_title("\n".join(textwrap.wrap(name, 20)[:2]), fontsize=6, pad=2)
    if title is None:
        title = (f"{dataset.name or 'dataset'}: {k} of {len(dataset)} images, "
                 f"{dataset.image_size}x{dataset.image_size}")
        if dataset.class_names is not None:
            title += f", {len(dataset.class_names)} classes"
    fig_h = fig.get_figheight()
    fig.suptitle(title, fontsize=9, y=1 - 0.08 / fig_h, va="top")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.6 / fig_h,
                        wspace=0.05, hspace=0.3 if labelled else 0.05)
    return save_figure(fig, out, format="png")


def preview_dataset(spec: str, out: str | os.PathLike, split: str = "train", n: int = 64,
                    seed: int = 0, image_size: int | None = None) -> Path:
    """Build a dataset from its spec and write :func:`save_preview`'s grid plus ``<out>.json``.

    The JSON beside the PNG holds the run metadata (config, argv, versions, commit).

    Args:
        spec: dataset spec, e.g. ``synthetic-cars`` or ``stanford-cars:ROOT``.
        out: PNG path.
        split: ``train``, ``test`` or ``val``.
        n: number of samples.
        seed: dataset seed (for generated data) and sample choice.
        image_size: resize to this side; None keeps the dataset's default.
    """
    check_writable(out, "--out", is_dir=False)
    ds = build_dataset(spec, split=split, image_size=image_size, flip=False, seed=seed)
    out = save_preview(ds, out, n=n, seed=seed)
    atomic_write_json(out.with_suffix(".json"), run_metadata(
        {"command": "data preview", "data": spec, "split": split, "n": n, "seed": seed,
         "image_size": ds.image_size, "dataset_size": len(ds),
         "class_names": ds.class_names}))
    return out
