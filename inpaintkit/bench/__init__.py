"""The benchmark runner behind ``inpaintkit bench``: methods x masks x images -> tidy rows.

A *method* is either the GAN latent search with a loss set (``--losses SPEC``, labelled by its
spec; ``yeh`` is the search with ``context,prior``) or a classical baseline (``--baselines``).
Every method inpaints the same images under the same masks, batch by batch, and each (image,
method, mask) becomes one row of ``DIR/rows.jsonl`` (:class:`RowStore`, :func:`read_rows`),
appended atomically as its batch finishes. A rerun of the same command skips the rows already
there, so a killed run loses at most the batch in flight and never duplicates a row.

What is scored (SPEC.md): the columns ``psnr``, ``ssim``, ``psnr_hole`` and ``ssim_hole`` score
the *output*: for a search, ``blend(y, G(z_hat), M)`` with ``--blend`` (Poisson by default); for a
baseline, its own fill pasted into the known pixels (never blended). The ``*_overlay`` columns
score the plain composite ``M*y + (1-M)*fill`` of every method, and ``scored`` says which output
the unsuffixed columns hold. Metrics are those of :mod:`inpaintkit.metrics` (uint8, Wang SSIM).

Masks are the same for every method on an image: ``random`` masks come from the data's
``random_masks`` array when it has one with the requested drop rate (the Stanford Cars val.npz),
named masks (``center``, ``left``...) from ``--mask-file`` (e.g. masks.npz) when it holds that
name, and otherwise they are generated from a seed derived from ``(--seed, mask, image id)``.
The column ``mask_source`` records which. Image ids are positions in the split; ``--n N`` takes
the first N.

Search seeds are per image too (derived from ``(--seed, mask, image id, restart)``, not from the
method: every method on an image starts from the same latents), so an image's result does not
depend on the batch it landed in, the batch size, the number of processes or a resume.

Also written to DIR: ``meta.json`` (argv, resolved config, versions, commit, machine),
``histories/`` (per-batch sums of every loss term's curve, for the loss-curve figure),
``images/`` (the inputs and each method's outputs for the first ``--save-images`` images, for the
qualitative grids), ``rows.csv`` (a copy of the rows) and ``report/`` (see
:mod:`inpaintkit.report`).

Under ``torchrun --nproc_per_node=K`` each rank takes every K-th image, writes its own rows file,
and rank 0 merges them and writes the report once all ranks are done.

Layout: :mod:`~inpaintkit.bench.config` (the options and how they resolve),
:mod:`~inpaintkit.bench.assets` (the bundled models and the model files a run falls back on),
:mod:`~inpaintkit.bench.plan` (each image's masks and seeds), :mod:`~inpaintkit.bench.loading`
(data and models), :mod:`~inpaintkit.bench.methods` (one batch of one method),
:mod:`~inpaintkit.bench.rundir` (row identity, resume checks, ``meta.json``) and
:mod:`~inpaintkit.bench.runner` (the sweep, :func:`run_bench`). The presets, and the per-mask
default weights (:func:`default_weights_for_mask`, re-exported here), live in
:mod:`inpaintkit._presets`.
"""
from __future__ import annotations

from .._presets import WEIGHT_TABLES, default_weights_for_mask
from .._rows import ROWS_FILE, RowStore, load_rows, read_rows, rows_to_csv
from .assets import ASSETS_DIR, BUNDLED_ASSETS, assets_dir, bundled_asset
from .config import (
    DEFAULT_LOSSES,
    DEFAULT_MASKS,
    RUN_KIND,
    BenchConfig,
    BenchError,
    BenchFailed,
    Method,
    ResolvedBench,
    resolve_config,
)
from .plan import SEEDING, image_masks, mask_seed, search_seed
from .runner import BatchInfo, BenchResult, run_bench

__all__ = ["BenchConfig", "BenchError", "BenchFailed", "Method", "ResolvedBench", "BenchResult", "BatchInfo",
           "resolve_config", "run_bench", "ASSETS_DIR", "BUNDLED_ASSETS", "assets_dir",
           "bundled_asset",
           "DEFAULT_MASKS", "DEFAULT_LOSSES", "image_masks", "mask_seed", "search_seed", "SEEDING",
           "RUN_KIND", "ROWS_FILE", "RowStore", "read_rows", "load_rows", "rows_to_csv",
           "default_weights_for_mask", "WEIGHT_TABLES"]
