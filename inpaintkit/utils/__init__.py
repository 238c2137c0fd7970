"""Shared plumbing, public so that ``classifiers/``, ``benchmarks/`` and notebooks can use it.

One role per module:

    images.py    the one conversion each way between [-1, 1] and [0, 1] / uint8
    checks.py    checks at the API boundary (image batches)
    seeding.py   seeding every random number generator at once; the per-image seed rule
    device.py    resolving ``--device``; whether bfloat16 is native there; ``precision="auto"``
    io.py        atomic writes (bytes, text, JSON, torch.save) and ``save_figure``
    rundir.py    run folders: writable, of one kind, one writer at a time
    meta.py      run metadata (argv, config, versions, commit, machine)
    dist.py      the process's place in a ``torchrun`` job
    registry.py  the one registry pattern behind models, masks, losses, baselines and datasets
"""
from __future__ import annotations

from .checks import check_images
from .device import (
    CPU_FEATURE_BATCH,
    DEFAULT_BATCH,
    PRECISIONS,
    DeviceError,
    auto_precision,
    default_batch_size,
    native_bf16,
    resolve_device,
    resolve_precision,
    warn_if_slow_bf16,
)
from .dist import DistEnv, dist_env
from .images import from_uint8, from_unit, to_uint8, to_unit
from .io import (
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    save_figure,
)
from .meta import cpu_model, git_commit, run_metadata
from .registry import Registry
from .rundir import (
    RunDirError,
    check_writable,
    claim_run_dir,
    remove_empty_run_dir,
    remove_stale_tmp,
    run_kind,
    run_lock,
)
from .seeding import SEEDING, hash_seed, per_image_seed, seed_everything, starting_latents

__all__ = [
    "check_images",
    "DeviceError", "PRECISIONS", "auto_precision", "native_bf16", "resolve_device", "resolve_precision",
    "DEFAULT_BATCH", "CPU_FEATURE_BATCH", "default_batch_size",
    "warn_if_slow_bf16",
    "DistEnv", "dist_env",
    "from_uint8", "from_unit", "to_uint8", "to_unit",
    "atomic_torch_save", "atomic_write_bytes", "atomic_write_json", "atomic_write_text", "save_figure",
    "cpu_model", "git_commit", "run_metadata",
    "Registry",
    "RunDirError", "check_writable", "claim_run_dir", "remove_empty_run_dir", "remove_stale_tmp",
    "run_kind", "run_lock",
    "seed_everything", "hash_seed", "per_image_seed", "starting_latents", "SEEDING",
]
