"""The benchmark runner behind ``inpaintkit bench``: methods x masks x images -> tidy rows.

A *method* is either the GAN latent search with a loss set (``--losses SPEC``, labelled by its
spec; ``yeh`` is the search with ``context,prior``) or a classical baseline (``--baselines``).
Every method inpaints the same images under the same masks, batch by batch, and each (image,
method, mask) becomes one row of ``DIR/rows.jsonl`` (see :mod:`inpaintkit._rows`), appended
atomically as its batch finishes. A rerun of the same command skips the rows already there, so
a killed run loses at most the batch in flight and never duplicates a row.

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
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ._presets import ALL_TERMS, DEMO, DRY_RUN, get_preset, list_presets
from ._rows import RowStore, read_rows, rows_to_csv
from .utils import (atomic_write_bytes, atomic_write_json, claim_run_dir, dist_env, remove_empty_run_dir,
                    remove_stale_tmp, resolve_device, run_lock, run_metadata, seed_everything,
                    to_uint8)

__all__ = ["BenchConfig", "BenchError", "BenchFailed", "Method", "ResolvedBench", "BenchResult", "BatchInfo",
           "resolve_config", "run_bench", "ASSETS_DIR", "BUNDLED_ASSETS", "assets_dir",
           "bundled_asset",
           "DEFAULT_MASKS", "DEFAULT_LOSSES", "image_masks", "mask_seed", "search_seed", "SEEDING",
           "RUN_KIND"]

#: Where the bundled synthetic-cars models live (inside the package, shipped with it). The
#: environment variable ``INPAINTKIT_ASSETS`` points elsewhere (see :func:`assets_dir`).
ASSETS_DIR = Path(__file__).resolve().parent / "assets"
BUNDLED_ASSETS = {
    "gan": "synthetic-cars-gan.pt",
    "classifier": "synthetic-cars-classifier.pt",
    "eval_classifier": "synthetic-cars-evaluator.pt",
    "ce": "synthetic-cars-ce.pt",
}
#: ``meta.json``'s ``kind``: other commands refuse to write into a folder of this kind.
RUN_KIND = "inpaintkit.bench"
DEFAULT_MASKS = ("center", "left", "random:0.7")
DEFAULT_LOSSES = ("context,prior,sem,cat",)
DEFAULT_BASELINES = ("im", "yeh")
YEH_LOSSES = "context,prior"
_LIBRARY_DEFAULTS = {"masks": DEFAULT_MASKS, "split": "test", "iters": 1500, "restarts": 1,
                     "restart_reduce": "best",
                     "optimizer": "adam", "precision": "fp32", "blend": "poisson", "batch_size": 64,
                     "save_images": 16, "weights": "calibrated", "mask_polarity": "known"}


class BenchError(ValueError):
    """A bad benchmark option: unknown method or mask, missing model, wrong sizes, --n too large."""


class BenchFailed(ValueError):
    """The run went through, but every row it computed failed: its numbers do not exist."""


def assets_dir() -> Path:
    """The folder of the bundled models: ``$INPAINTKIT_ASSETS`` if set, else the package's own."""
    env = os.environ.get("INPAINTKIT_ASSETS")
    return Path(env).expanduser() if env else ASSETS_DIR


def bundled_asset(key: str) -> Path:
    """The path of a bundled model file, checked to exist.

    Args:
        key: ``"gan"``, ``"classifier"``, ``"eval_classifier"`` or ``"ce"``.

    Raises:
        BenchError: the file is missing (it is trained by the project's own commands, see
            benchmarks/models/synthetic-cars/README.md), naming the file.
    """
    if key not in BUNDLED_ASSETS:
        raise KeyError(f"unknown bundled asset {key!r}; known: {', '.join(BUNDLED_ASSETS)}")
    path = assets_dir() / BUNDLED_ASSETS[key]
    if not path.is_file():
        raise BenchError(
            f"the built-in benchmark needs the bundled model file {path}, which is missing. "
            f"Train it with the commands in benchmarks/models/synthetic-cars/README.md, or pass "
            f"--{key.replace('_', '-')} CKPT (and --data SPEC) to benchmark your own models.")
    return path


@dataclass
class BenchConfig:
    """Every option of ``inpaintkit bench``. ``None`` means "not given": the preset, the built-in
    demo or the library default fills it in (in that order; see :func:`resolve_config`).

    Attributes:
        losses: loss specs, one search method each (labelled by the spec).
        baselines: baseline names (``yeh`` = the search with ``context,prior``); default ``im``
            and ``yeh`` when ``losses`` is given; ``()`` for none.
        masks: mask specs, e.g. ``("center", "left", "random:0.7")``.
        data: dataset spec; default: the built-in ``synthetic-cars``.
        split: ``train``/``test``/``val``.
        gan, classifier, eval_classifier: checkpoint paths. The GAN is needed by searches; the
            classifier by ``sem``/``cat``; the evaluator (a *different* classifier) adds semantic
            accuracy.
        mask_file: an ``.npz`` of named ``(H, W)`` masks (one for every image, e.g. masks.npz)
            and ``(N, H, W)`` per-image mask sets, or a folder of PNG masks (one per image);
            bool or 0/1. Per-image sets not named in ``masks`` are added as ``file:NAME``.
        mask_polarity: ``known`` (1/white = known pixel, the default) or ``hole`` (1/white = hole,
            LaMa's convention), for ``mask_file`` and PNG mask specs.
        pool: dataset spec of the training images for the ``nn`` baseline.
        ce: a Context Encoder checkpoint for the ``ce`` baseline (``inpaintkit
            train-context-encoder``); default on synthetic-cars: the bundled one. Given without
            ``baselines`` (or in the demo), ``ce`` joins the default baselines.
        n: number of images (the first n of the split); default all.
        iters, restarts, optimizer, lr: the search settings (lr None: the optimiser's default).
        restart_reduce: ``best`` (the lowest-loss restart's fill) or ``mean`` (the mean of the
            restarts' fills; see :class:`~inpaintkit.search.SearchConfig`).
        precision: ``fp32`` or ``bf16`` (the search's networks under bfloat16 autocast; see
            :class:`~inpaintkit.search.SearchConfig`).
        monitor: loss terms recorded with weight 0 in every search that does not optimise them
            (for the loss-curve figure); ``("all",)`` for the five terms.
        blend: ``poisson`` or ``overlay``.
        batch_size: images per batch.
        save_images: outputs of the first this many images are saved for the grids (-1: all).
        seed: the base of every seed (masks, search, baselines).
        device: ``cpu``, ``cuda``, ``cuda:1``... (default: CUDA when available).
        out: output directory; default ``runs/bench-<hash of the config>`` (so rerunning the same
            command resumes).
        preset: ``paper-table1`` (see :mod:`inpaintkit._presets`).
        weights: default-weight table for loss terms given without a weight: ``calibrated``
            (default) or ``eth`` (the ETH study's values, which saturate z with our classifier
            normalisation; ``--preset paper-table1-eth``).
        dry_run: tiny random models on a handful of images, for CI.
        retry_errors: recompute the rows that failed before instead of skipping them.
        lpips: add LPIPS columns (AlexNet backbone), only where its ImageNet weights are already
            on disk (:func:`~inpaintkit.metrics.check_lpips`; never downloaded).
        shard: ``"I/N"``: run only shard I (1-based) of N disjoint image shards into ``out``, as
            one task of a job array; ``inpaintkit merge OUT`` joins them (:mod:`inpaintkit.shards`).
        allow_mixed: rerun into an ``out`` whose rows were made with another configuration. A
            method whose configuration differs from the rows already there is stored under its
            own name, ``NAME@<hash>``, labelled with the differing settings, so the tables keep the
            configurations apart. Without it such a rerun is refused.
        progress: show progress bars.
        report: write and print the report at the end.
    """

    losses: tuple[str, ...] | None = None
    baselines: tuple[str, ...] | None = None
    masks: tuple[str, ...] | None = None
    data: str | None = None
    split: str | None = None
    gan: str | None = None
    classifier: str | None = None
    eval_classifier: str | None = None
    mask_file: str | None = None
    mask_polarity: str | None = None
    pool: str | None = None
    ce: str | None = None
    n: int | None = None
    iters: int | None = None
    restarts: int | None = None
    restart_reduce: str | None = None
    optimizer: str | None = None
    lr: float | None = None
    precision: str | None = None
    monitor: tuple[str, ...] | None = None
    blend: str | None = None
    batch_size: int | None = None
    save_images: int | None = None
    seed: int = 0
    start: int = 0
    device: str | None = None
    out: str | None = None
    preset: str | None = None
    weights: str | None = None
    dry_run: bool = False
    retry_errors: bool = False
    allow_mixed: bool = False
    shard: str | None = None
    lpips: bool = False
    progress: bool = True
    report: bool = True


@dataclass
class Method:
    """One column of the table.

    Attributes:
        name: the row key: the loss spec as given (whitespace removed) or the baseline name.
        label: display name.
        kind: ``"search"`` or ``"baseline"``.
        losses: the loss spec of a search (``yeh``: ``context,prior``).
        weights: the default-weight table for terms the spec gives no weight
            (:func:`~inpaintkit.losses.default_weights_for_mask`).
    """

    name: str
    label: str
    kind: str
    losses: str | None = None
    weights: str = "calibrated"

    def loss_spec(self, mask: str, monitor: Sequence[str] = ()) -> str:
        """The fully resolved spec for ``mask``: per-mask default weights (from the ``weights``
        table) written out, monitored terms appended with weight 0."""
        from .losses import default_weights_for_mask, format_loss_spec, parse_loss_spec

        entries = parse_loss_spec(self.losses, defaults=default_weights_for_mask(mask, self.weights))
        have = {e.name for e in entries}
        entries += [(t, 0.0, {}) for t in monitor if t not in have]
        return format_loss_spec(entries)


@dataclass
class ResolvedBench:
    """A :class:`BenchConfig` with every option filled in, its methods, and notes for the user."""

    config: BenchConfig
    methods: list[Method]
    mode: str  # "custom", "demo" or "dry-run"
    notes: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def out(self) -> Path:
        return Path(self.config.out)

    @property
    def needs_gan(self) -> bool:
        return any(m.kind == "search" for m in self.methods)

    @property
    def needs_classifier(self) -> bool:
        return any(_uses_features(m.losses) for m in self.methods if m.kind == "search") or \
            any(_uses_features(t) for t in (self.config.monitor or ()) if self.needs_gan)


@dataclass
class BatchInfo:
    """Passed to the ``on_batch`` hook after a batch's rows are on disk."""

    method: str
    mask: str
    image_ids: list[int]
    batches_done: int  # batches finished by this process so far, over all (method, mask)


@dataclass
class BenchResult:
    """What :func:`run_bench` did: the run directory, the rows and the report (rank 0)."""

    out: Path
    rows: list[dict[str, Any]]
    report: Any = None
    new_rows: int = 0


# --- resolving options ----------------------------------------------------------------------------

def _uses_features(spec: str | None) -> bool:
    """Whether a loss spec (or a single term name) reads classifier features or logits."""
    from .losses import LOSSES, parse_loss_spec
    from .losses._registry import FEATURE_INPUTS

    if not spec:
        return False
    return any(set(LOSSES.get(e.name).requires) & FEATURE_INPUTS for e in parse_loss_spec(spec))


def _split_list(values: Sequence[str] | None) -> tuple[str, ...] | None:
    """``("center,left", "random:0.7")`` -> ``("center", "left", "random:0.7")``."""
    if values is None:
        return None
    out: list[str] = []
    for v in values:
        out += [p.strip() for p in str(v).split(",") if p.strip()]
    return tuple(out)


def _config_digest(obj: Any, n: int = 10) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def resolve_config(config: BenchConfig) -> ResolvedBench:
    """Fill in every option and check the names, without loading any data or model.

    Precedence: an option given explicitly > ``--preset`` > the built-in demo (no ``--data``,
    ``--gan`` or ``--classifier``) or ``--dry-run`` > the library defaults.

    Raises:
        BenchError: unknown preset, method, baseline, loss, mask, optimiser or blend; bad numbers.
    """
    from .baselines import BASELINES
    from .blend import BLENDS
    from .losses import WEIGHT_TABLES, LossSpecError, format_loss_spec, parse_loss_spec
    from .masks import MaskError, check_mask_spec

    cfg = dataclasses.replace(config)
    cfg.losses = _split_losses(cfg.losses)
    cfg.baselines = _split_list(cfg.baselines)
    cfg.masks = _split_list(cfg.masks)
    cfg.monitor = _split_list(cfg.monitor)
    notes: list[str] = []
    labels: dict[str, str] = {}

    def fill(options: dict[str, Any]) -> None:
        for k, v in options.items():
            if getattr(cfg, k) is None:
                setattr(cfg, k, v)

    if cfg.preset is not None:
        try:
            preset = get_preset(cfg.preset)
        except KeyError as e:
            raise BenchError(f"unknown preset {cfg.preset!r}; known presets: "
                             f"{', '.join(list_presets())}") from e
        fill(preset.options)
        labels.update(preset.method_labels)
        notes.append(f"preset {preset.name}: {preset.description} (explicit options override it)")

    if cfg.dry_run:
        mode = "dry-run"
        fill(DRY_RUN.options)
    elif cfg.data is None and cfg.gan is None and cfg.classifier is None:
        mode = "demo"
        fill(DEMO.options)
    else:
        mode = "custom"
    fill(_LIBRARY_DEFAULTS)
    if cfg.data is None and not cfg.dry_run:
        cfg.data = "synthetic-cars"

    if cfg.losses is None and cfg.baselines is None:
        cfg.losses = DEFAULT_LOSSES
        notes.append(f"no --losses, --baselines or --preset: comparing --losses "
                     f"{DEFAULT_LOSSES[0]} with {', '.join(DEFAULT_BASELINES)}")
    if cfg.baselines is None:
        with_ce = cfg.ce is not None or mode == "demo"  # the demo has a bundled Context Encoder
        cfg.baselines = (DEFAULT_BASELINES[:1] + ("ce",) * with_ce + DEFAULT_BASELINES[1:]
                         if cfg.losses else ())
    cfg.baselines = tuple(b for b in cfg.baselines if b.lower() != "none")
    cfg.losses = cfg.losses or ()
    if cfg.monitor and [t.lower() for t in cfg.monitor] == ["all"]:
        cfg.monitor = ALL_TERMS

    # numbers and names
    for name in ("iters", "restarts", "batch_size"):
        v = getattr(cfg, name)
        if not isinstance(v, int) or v < 1:
            raise BenchError(f"--{name.replace('_', '-')} must be a positive integer, got {v!r}")
    if cfg.n is not None and (not isinstance(cfg.n, int) or cfg.n < 1):
        raise BenchError(f"--n must be a positive integer, got {cfg.n!r}")
    if not isinstance(cfg.start, int) or cfg.start < 0:
        raise BenchError(f"--start must be a non-negative integer, got {cfg.start!r}")
    if cfg.lr is not None and not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise BenchError(f"--lr must be a positive number, got {cfg.lr!r}")
    if cfg.optimizer not in ("adam", "nesterov"):
        raise BenchError(f"unknown optimizer {cfg.optimizer!r}; choose adam or nesterov")
    if cfg.restart_reduce not in ("best", "mean"):
        raise BenchError(f"unknown --restart-reduce {cfg.restart_reduce!r}; choose best or mean")
    if cfg.precision not in ("fp32", "bf16"):
        raise BenchError(f"unknown precision {cfg.precision!r}; choose fp32 or bf16")
    if cfg.weights not in WEIGHT_TABLES:
        raise BenchError(f"unknown weight table {cfg.weights!r}; choose one of {', '.join(WEIGHT_TABLES)}")
    if cfg.blend not in BLENDS:
        raise BenchError(f"unknown blend {cfg.blend!r}; known: {', '.join(BLENDS.list())}")
    if cfg.split not in ("train", "test", "val"):
        raise BenchError(f"--split must be train, test or val, got {cfg.split!r}")
    if not cfg.masks:
        raise BenchError("no masks given; e.g. --masks center,left,random:0.7")
    if cfg.mask_polarity not in ("known", "hole"):
        raise BenchError(f"--mask-polarity must be known or hole, got {cfg.mask_polarity!r}")
    if cfg.mask_file:
        from .masks import mask_file_sets

        try:
            per_image = mask_file_sets(cfg.mask_file)
        except (MaskError, FileNotFoundError) as e:
            raise BenchError(f"--mask-file: {e}") from None
        added = [f"file:{k}" for k in per_image
                 if f"file:{k}" not in cfg.masks and k not in cfg.masks]
        if added:
            cfg.masks = (*cfg.masks, *added)
            notes.append(f"--mask-file per-image mask set(s) added to the masks: {', '.join(added)}")
    for spec in cfg.masks:
        if spec.startswith("file:") and not cfg.mask_file:
            raise BenchError(f"mask {spec!r} reads a set of --mask-file, and none was given")
        try:
            # arguments, PNGs: before any model
            check_mask_spec(spec, polarity=cfg.mask_polarity, mask_file=bool(cfg.mask_file))
        except (KeyError, MaskError, FileNotFoundError) as e:
            raise BenchError(f"bad mask {spec!r}: {e.args[0] if e.args else e}") from e
    if cfg.lpips:
        from .metrics import LPIPSUnavailable, check_lpips

        try:
            check_lpips("alex")
        except LPIPSUnavailable as e:
            raise BenchError(f"--lpips: {e}") from None
    if cfg.shard is not None:
        from .shards import ShardError, parse_shard

        try:
            cfg.shard = "{}/{}".format(*parse_shard(cfg.shard))
        except ShardError as e:
            raise BenchError(str(e)) from None
    if len(set(cfg.masks)) != len(cfg.masks):
        raise BenchError(f"a mask is listed twice in {list(cfg.masks)}")

    methods: list[Method] = []
    known = ["yeh", *BASELINES.list()]
    for b in cfg.baselines:
        if b == "yeh":
            methods.append(Method("yeh", labels.get("yeh", "yeh"), "search", YEH_LOSSES, cfg.weights))
        elif b in BASELINES:
            methods.append(Method(b, labels.get(b, b), "baseline"))
        else:
            raise BenchError(f"unknown baseline {b!r}; known baselines: {', '.join(known)}")
    for spec in cfg.losses:
        try:
            parse_loss_spec(spec)
        except LossSpecError as e:
            raise BenchError(f"bad --losses {spec!r}: {e}") from e
        name = "".join(spec.split())
        if any(m.name == name for m in methods):
            raise BenchError(f"method {name!r} is listed twice")
        same_as_yeh = all(
            format_loss_spec(parse_loss_spec(name, defaults=_mask_defaults(k)))
            == format_loss_spec(parse_loss_spec(YEH_LOSSES, defaults=_mask_defaults(k)))
            for k in cfg.masks)
        if same_as_yeh and any(m.name == "yeh" for m in methods):
            notes.append(f"--losses {spec} is the yeh method, which already runs; not run twice")
            continue
        methods.append(Method(name, labels.get(name, name), "search", name, cfg.weights))
    if not methods:
        raise BenchError("nothing to run: give --losses SPEC and/or --baselines NAMES")
    if cfg.monitor:
        from .losses import LOSSES

        bad = [t for t in cfg.monitor if t not in LOSSES]
        if bad:
            raise BenchError(f"unknown loss term(s) {bad} in --monitor; known: "
                             f"{', '.join(LOSSES.list())}")

    if cfg.out is None:
        key = {k: v for k, v in dataclasses.asdict(cfg).items()
               if k not in ("out", "device", "progress", "report", "retry_errors", "batch_size",
                            "allow_mixed", "shard")
               and not (k == "mask_polarity" and v == "known")  # (keeps earlier runs' folders)
               and not (k == "lpips" and not v)}
        cfg.out = str(Path("runs") / f"bench-{mode}-{_config_digest(key, 8)}")
    return ResolvedBench(cfg, methods, mode, notes, labels)


def _split_losses(values: Sequence[str] | None) -> tuple[str, ...] | None:
    # a loss spec contains commas itself: one spec per --losses option, never split
    if values is None:
        return None
    return tuple(v.strip() for v in values if v.strip())


def _mask_defaults(mask: str) -> dict[str, float]:
    from .losses import default_weights_for_mask

    return default_weights_for_mask(mask)


# --- seeds and masks ------------------------------------------------------------------------------

def _hash_seed(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "little") & 0x7FFFFFFF


def mask_seed(seed: int, mask: str, image_id: int) -> int:
    """The seed of a generated mask: the same image gets the same mask for every method and run."""
    return _hash_seed("mask", seed, mask, int(image_id))


#: How search methods draw their starting latents; recorded in every search row (``seeding``) and
#: part of its config hash, so a resume never mixes rows seeded differently. ``crn`` (common random
#: numbers, since 2026-12-02): one seed per (seed, mask, image, restart), the same for every method,
#: so paired comparisons between methods do not compare starting points. Rows without the column
#: were seeded per method name.
SEEDING = "crn"


def search_seed(seed: int, mask: str, image_id: int, restart: int = 0) -> int:
    """The seed of one starting latent: the same for every method on the image (common random
    numbers), and restart ``r`` the same whatever the number of restarts."""
    return _hash_seed("search", SEEDING, seed, mask, int(image_id), int(restart))


def image_masks(spec: str, ids: Sequence[int], size: tuple[int, int], seed: int,
                data_masks: np.ndarray | None = None,
                mask_file: dict[str, Any] | None = None, stems: Sequence[str] | None = None,
                polarity: str = "known") -> tuple[np.ndarray, str]:
    """The known-pixel masks of ``spec`` for the images ``ids``, identical for every method.

    Args:
        spec: a mask spec (``center``, ``random:0.7``, ``path.png``, ``file:NAME``...).
        ids: image ids (positions in the split).
        size: ``(H, W)``.
        seed: the run's seed.
        data_masks: the data's ``random_masks`` ``(N, H, W)`` bool (True = known), used for
            ``random:p`` when their drop rate is within 0.02 of ``p``.
        mask_file: the sets of ``--mask-file`` (:func:`~inpaintkit.masks.read_mask_file`; a plain
            ``(H, W)`` or ``(N, H, W)`` bool array is taken as such a set), used for a spec of
            that name and for ``file:NAME``.
        stems: the images' file names without suffix, for a PNG folder keyed by file name.
        polarity: how a PNG spec reads (``known``: white = known; ``hole``: white = hole).

    Returns:
        ``(masks (len(ids), H, W) bool, source)`` with source ``"data:random_masks"``,
        ``"file:NAME"`` or ``"seeded"``.
    """
    from .masks import MaskSet, make_mask, parse_mask_spec, validate_mask

    name, args = parse_mask_spec(spec)
    ids = [int(i) for i in ids]
    if name == "random" and data_masks is not None:
        p = args[0] if args else 0.8
        drop = 1.0 - float(data_masks.mean())
        if abs(drop - p) <= 0.02:
            out = np.asarray(data_masks[ids], dtype=bool)
            validate_mask(torch.from_numpy(out[:, None].astype(np.float32)), size)
            return out, "data:random_masks"
    if name.startswith("file:"):
        key = name[5:]
    else:
        key = spec if mask_file and spec in mask_file else name
    if name.startswith("file:") and (mask_file is None or key not in mask_file):
        known = ", ".join(f"file:{k}" for k in (mask_file or {})) or "none: pass --mask-file"
        raise BenchError(f"mask {spec!r}: no such set in --mask-file (sets: {known})")
    if mask_file is not None and key in mask_file and not args:
        mset = mask_file[key]
        if not isinstance(mset, MaskSet):
            a = np.asarray(mset, dtype=bool)
            mset = MaskSet(key, a if a.ndim == 3 else a[None], a.ndim == 3)
        if mset.shape != tuple(size):
            raise BenchError(f"mask {spec!r} in the mask file is {mset.shape[0]}x{mset.shape[1]}, "
                             f"but the images are {size[0]}x{size[1]}")
        out = mset.for_images(ids, None if stems is None else [stems[i] for i in ids])
        if len(out):
            validate_mask(torch.from_numpy(out[:, None].astype(np.float32)), size)
        return out.astype(bool), f"file:{key}"
    out = np.stack([make_mask(spec, size, seed=mask_seed(seed, spec, i), polarity=polarity)[0, 0]
                    .numpy() > 0.5 for i in ids]) if ids else np.zeros((0, *size), bool)
    return out, "seeded"


def _read_mask_file(path: str, polarity: str = "known") -> dict[str, Any]:
    from .masks import MaskError, read_mask_file

    try:
        return read_mask_file(path, polarity)
    except (MaskError, FileNotFoundError) as e:
        raise BenchError(str(e)) from None


# --- models ---------------------------------------------------------------------------------------

@dataclass
class _Models:
    generator: Any = None
    discriminator: Any = None
    feature_net: Any = None
    evaluator: Any = None
    pool: Any = None
    ce: Any = None
    ids: dict[str, str] = field(default_factory=dict)  # content ids of the model files


def _file_id(path: str | os.PathLike) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def _load_models(rb: ResolvedBench, data, device: torch.device) -> _Models:
    cfg = rb.config
    models = _Models()
    size = data.image_size
    num_classes = data.num_classes
    if rb.mode == "dry-run":
        from .features import TinyFeatureNet
        from .models import create_model

        torch.manual_seed(_hash_seed("dry-run-models", cfg.seed))
        g, d = create_model("dcgan_test")
        models.generator, models.discriminator = g.to(device).eval(), d.to(device).eval()
        k = num_classes or 10
        models.feature_net = TinyFeatureNet(k).freeze().to(device)
        models.evaluator = TinyFeatureNet(k, width=6).freeze().to(device)
        models.ids = {"gan": f"dry-run:dcgan_test:{cfg.seed}", "classifier": "dry-run:tiny",
                      "eval_classifier": "dry-run:tiny-eval"}
        return models
    if rb.needs_gan:
        from .models import CheckpointError, load_gan

        try:
            models.generator, models.discriminator, _ = load_gan(cfg.gan, image_size=size,
                                                                 device=device)
        except (CheckpointError, FileNotFoundError) as e:
            raise BenchError(f"--gan: {e}") from e
        models.ids["gan"] = _file_id(cfg.gan)
    if rb.needs_classifier:
        models.feature_net = _load_classifier(cfg.classifier, "--classifier", size, device)
        models.ids["classifier"] = _file_id(cfg.classifier)
    if cfg.eval_classifier:
        if cfg.classifier and Path(cfg.classifier).resolve() == Path(cfg.eval_classifier).resolve():
            raise BenchError("--eval-classifier must be an independent classifier, not the one "
                             "behind the sem/cat losses (--classifier); see SPEC.md")
        models.evaluator = _load_classifier(cfg.eval_classifier, "--eval-classifier", size, device)
        models.ids["eval_classifier"] = _file_id(cfg.eval_classifier)
        if "classifier" in models.ids and models.ids["classifier"] == models.ids["eval_classifier"]:
            raise BenchError("--eval-classifier is the same file as --classifier; semantic "
                             "accuracy needs an independent evaluator")
        if num_classes is not None and models.evaluator.num_classes != num_classes:
            raise BenchError(f"--eval-classifier predicts {models.evaluator.num_classes} classes "
                             f"but the data has {num_classes}")
    return models


def _load_classifier(path: str | None, option: str, size: int, device: torch.device):
    if path is None:
        raise BenchError(f"the sem/cat losses need a classifier: pass {option} CKPT")
    from classifiers import load_feature_network

    try:
        return load_feature_network(path, device=device, image_size=size)
    except FileNotFoundError as e:
        raise BenchError(f"{option}: {e}") from e
    except ValueError as e:  # CheckpointError and friends
        raise BenchError(f"{option}: {e}") from e


def _load_data(rb: ResolvedBench):
    from .data import DatasetError, build_dataset

    cfg = rb.config
    size = None
    if rb.mode == "dry-run":
        size = 32  # dcgan_test
        spec = cfg.data or f"synthetic-cars:{max(cfg.n or 4, 4)}"
    else:
        spec = cfg.data
        if rb.mode == "demo" and rb.needs_gan:
            from .models import read_checkpoint

            size = int(read_checkpoint(cfg.gan)["config"]["image_size"])
    try:
        data = build_dataset(spec, split=cfg.split, image_size=size, flip=False, seed=0)
    except KeyError as e:
        raise BenchError(f"--data {spec!r}: {e.args[0]}") from e
    except (DatasetError, FileNotFoundError) as e:
        raise BenchError(f"--data {spec!r}: {e}") from e
    avail = len(data) - cfg.start
    if avail < 1:
        raise BenchError(f"--start {cfg.start} but the {cfg.split} split of {spec} has only "
                         f"{len(data)} images")
    n = avail if cfg.n is None else cfg.n
    if n > avail:
        raise BenchError(f"--n {n} but the {cfg.split} split of {spec} has only {len(data)} images"
                         + (f", {avail} from --start {cfg.start}" if cfg.start else ""))
    return data, n


def _load_pool(rb: ResolvedBench, size: int):
    from .data import DatasetError, build_dataset

    cfg = rb.config
    spec = cfg.pool
    if spec is None:
        if cfg.data is None or cfg.data.startswith("npz:"):
            raise BenchError("the nn baseline needs --pool SPEC: the training images to copy from "
                             "(an npz file is its own split, so the test data cannot be the pool)")
        spec = cfg.data
    elif cfg.data and spec == cfg.data and spec.startswith("npz:"):
        raise BenchError("--pool must not be the benchmark data itself (nn would find each image)")
    try:
        return build_dataset(spec, split="train", image_size=size, flip=False, seed=0)
    except (DatasetError, FileNotFoundError, KeyError) as e:
        raise BenchError(f"--pool {spec!r}: {e}") from e


def _load_ce(rb: ResolvedBench, size: int, device: torch.device):
    """The Context Encoder of the ``ce`` baseline: ``--ce``, else the bundled one on synthetic-cars
    (the demo), else a tiny random one in a dry run. Returns ``(model, content id)``."""
    from .baselines import ContextEncoder, ContextEncoderConfig, load_context_encoder
    from .models import CheckpointError

    cfg = rb.config
    if rb.mode == "dry-run" and cfg.ce is None:
        torch.manual_seed(_hash_seed("dry-run-ce", cfg.seed))
        net = ContextEncoder(ContextEncoderConfig(image_size=size, nef=8, ngf=8)).to(device).eval()
        return net, f"dry-run:ce:{cfg.seed}"
    path = cfg.ce
    if path is None:
        if rb.mode == "demo" or cfg.data == "synthetic-cars":
            path = cfg.ce = str(bundled_asset("ce"))
        else:
            raise BenchError("the ce baseline needs --ce CKPT, a Context Encoder trained on this "
                             "data with 'inpaintkit train-context-encoder' (Stanford Cars: "
                             "benchmarks/models/stanford-cars-64/context-encoder.pt)")
    try:
        net, _ = load_context_encoder(path, device=device)
    except (CheckpointError, FileNotFoundError) as e:
        raise BenchError(f"--ce: {e}") from e
    if net.config.image_size != size:
        raise BenchError(f"--ce {path} was trained on {net.config.image_size}x"
                         f"{net.config.image_size} images, but the data is {size}x{size}")
    return net, _file_id(path)


# --- running one batch ----------------------------------------------------------------------------

@dataclass
class _Output:
    output: torch.Tensor  # the scored images
    overlay: torch.Tensor  # the plain composite
    g: torch.Tensor | None = None
    total: np.ndarray | None = None
    terms: dict[str, np.ndarray] = field(default_factory=dict)
    history: dict[str, np.ndarray] = field(default_factory=dict)  # {name: (iters, B)}
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # {name: (B,)} weights used
    z_clip: np.ndarray | None = None  # (B,) largest fraction of z on the clip after a step


def _run_search(method: Method, rb: ResolvedBench, models: _Models, y: torch.Tensor,
                mask: torch.Tensor, mask_spec: str, ids: Sequence[int]) -> _Output:
    from .blend import blend
    from .losses import build_loss
    from .search import SearchConfig, latent_search

    cfg = rb.config
    spec = method.loss_spec(mask_spec, cfg.monitor or ())
    loss = build_loss(spec, feature_net=models.feature_net)
    # each image's starting latents come from its own seeds, so its result does not depend on the
    # batch it is in (the search itself is batch-size invariant); the seeds ignore the method, so
    # every method on an image starts from the same latents
    nz, k = int(models.generator.config.nz), int(cfg.restarts)
    z_init = torch.stack([torch.stack([
        torch.rand(nz, generator=torch.Generator().manual_seed(
            search_seed(cfg.seed, mask_spec, i, r))) * 2 - 1 for r in range(k)]) for i in ids])
    sc = SearchConfig(iters=cfg.iters, optimizer=cfg.optimizer, lr=cfg.lr, restarts=k,
                      restart_reduce=cfg.restart_reduce, precision=cfg.precision)
    res = latent_search(models.generator, models.discriminator, y, mask, loss, config=sc,
                        feature_net=models.feature_net, progress=False, z_init=z_init)
    g = res.g.detach()
    out = blend(y, g, mask, method=cfg.blend)
    overlay = blend(y, g, mask, method="overlay")
    hist = {k: np.asarray(v) for k, v in (res.history or {}).items()}
    return _Output(out, overlay, g, _np(res.total), {k: _np(v) for k, v in res.terms.items()}, hist,
                   {k: _np(v) for k, v in res.image_weights.items()},
                   None if res.saturated is None else _np(res.saturated))


def _run_baseline(method: Method, rb: ResolvedBench, models: _Models, y: torch.Tensor,
                  mask: torch.Tensor, mask_spec: str, ids: Sequence[int]) -> _Output:
    from .baselines import baseline_options, run_baseline

    opts: dict[str, Any] = {}
    accepted = baseline_options(method.name)
    if "pool" in accepted:
        opts["pool"] = models.pool
    if "model" in accepted:
        opts["model"] = models.ce
    if "seed" not in accepted:
        out = run_baseline(method.name, y, mask, **opts)
    else:
        # a seeded baseline (im) runs image by image, each with the seed of its image id, so its
        # result does not depend on the batch (it loops over the batch internally anyway)
        out = torch.cat([
            run_baseline(method.name, y[k:k + 1], mask[k:k + 1], **opts,
                         seed=_hash_seed("baseline", rb.config.seed, method.name, mask_spec, int(i)))
            for k, i in enumerate(ids)])
    return _Output(out, out)


def _np(t: Any) -> np.ndarray:
    return t.detach().float().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- the run --------------------------------------------------------------------------------------

def _slug(s: str) -> str:
    from .report import _slug as slug

    return slug(s)


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _config_columns(rb: ResolvedBench, method: Method, mask: str, mask_source: str,
                    models: _Models, device: torch.device) -> dict[str, Any]:
    cfg = rb.config
    search = method.kind == "search"
    cols = {
        "method_label": method.label,
        "method_kind": method.kind,
        "loss_spec": method.loss_spec(mask, cfg.monitor or ()) if search else None,
        "data": cfg.data if rb.mode != "dry-run" else (cfg.data or "synthetic-cars (dry run)"),
        "split": cfg.split,
        "mask_source": mask_source,
        "gan": (cfg.gan if rb.mode != "dry-run" else "dry-run:dcgan_test") if search else None,
        "classifier": (cfg.classifier if rb.mode != "dry-run" else "dry-run:tiny")
        if search and models.feature_net is not None else None,
        "eval_classifier": cfg.eval_classifier if rb.mode != "dry-run" else "dry-run:tiny-eval",
        "iters": cfg.iters if search else None,
        "restarts": cfg.restarts if search else None,
        "optimizer": cfg.optimizer if search else None,
        "lr": cfg.lr if search else None,
        "precision": cfg.precision if search else None,
        "blend": cfg.blend if search else None,
        "scored": cfg.blend if search else "baseline",
        "seed": cfg.seed,
        "mode": rb.mode,
    }
    if models.evaluator is None:
        cols["eval_classifier"] = None
    identity = {k: cols[k] for k in ("loss_spec", "split", "mask_source", "iters", "restarts",
                                      "optimizer", "lr", "precision", "blend", "seed", "mode")}
    from_file = mask_source.startswith("file:") or mask.lower().endswith(".png")
    if cfg.mask_polarity != "known" and from_file:  # (absent: white = known, older hashes kept)
        cols["mask_polarity"] = identity["mask_polarity"] = cfg.mask_polarity
    if search and cfg.restart_reduce != "best":  # (absent for "best": older runs keep their hashes)
        cols["restart_reduce"] = identity["restart_reduce"] = cfg.restart_reduce
    if method.name == "ce":  # the model file is part of the method (absent elsewhere: same hashes)
        cols["ce"] = cfg.ce if rb.mode != "dry-run" or cfg.ce else "dry-run:ce"
        identity["ce"] = models.ids.get("ce")
    if search:  # rows seeded per method name (before 2026-12-02) have no column: never mixed
        cols["seeding"] = identity["seeding"] = SEEDING
    identity.update(method=method.name, kind=method.kind, mask=mask, data=cols["data"],
                    gan=models.ids.get("gan") if search else None,
                    classifier=models.ids.get("classifier") if cols["classifier"] else None,
                    evaluator=models.ids.get("eval_classifier"))
    cols["config_hash"] = _config_digest(identity, 12)
    cols["batch_size"] = cfg.batch_size
    cols["device"] = str(device)
    return cols


_DIFF_FIELDS = ("loss_spec", "data", "split", "mask_source", "gan", "classifier", "eval_classifier",
                "ce", "iters", "restarts", "restart_reduce", "optimizer", "lr", "precision", "blend", "seed",
                "seeding", "mode", "mask_polarity")


# The settings every method of one kind shares in a run: rows of other methods already in the
# folder must agree on them too, or one table would compare methods run under other settings.
_SHARED_FIELDS = {"search": ("data", "split", "iters", "restarts", "restart_reduce", "optimizer", "lr",
                             "precision", "blend", "seed", "seeding", "mode"),
                  "baseline": ("data", "split", "seed", "mode")}


def _config_conflicts(rows: Sequence[dict[str, Any]], method: Method,
                      planned: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, Any]]:
    """What differs between the rows already in the folder and ``method``'s planned columns
    (``planned``: mask -> config columns): ``{field: (there, now)}``, empty when nothing does."""
    diffs: dict[str, tuple[Any, Any]] = {}
    first = next(iter(planned.values()))
    for r in rows:
        if r.get("method") == method.name and r.get("mask") in planned:
            cols = planned[r["mask"]]
            if r.get("config_hash") == cols["config_hash"]:
                continue
            fields = [k for k in _DIFF_FIELDS if r.get(k) != cols.get(k)]
            for k in fields:
                diffs.setdefault(k, (r.get(k), cols.get(k)))
            if not fields:
                diffs.setdefault("model file", ("another", "this"))
        elif r.get("method_kind") == method.kind and "@" not in str(r.get("method")):
            for k in _SHARED_FIELDS[method.kind]:
                if r.get(k) != first.get(k):
                    diffs.setdefault(k, (r.get(k), first.get(k)))
    return diffs


def _settle_methods(rb: ResolvedBench, rows: Sequence[dict[str, Any]], models: _Models,
                    device: torch.device,
                    run_masks: dict[str, tuple[np.ndarray, str]]) -> ResolvedBench:
    """Refuse to mix configurations in one folder, or (``allow_mixed``) rename the methods whose
    configuration differs from the rows already there, so that they get their own columns."""
    if not rows:
        return rb
    cfg = rb.config
    methods, problems = [], []
    for method in rb.methods:
        planned = {spec: _config_columns(rb, method, spec, src, models, device)
                   for spec, (_, src) in run_masks.items()}
        diffs = _config_conflicts(rows, method, planned)
        if not diffs:
            methods.append(method)
            continue
        if not cfg.allow_mixed:
            problems += [f"{k}: {a!r} -> {b!r}" for k, (a, b) in diffs.items()
                         if f"{k}: {a!r} -> {b!r}" not in problems]
            continue
        first = next(iter(planned.values()))
        tag = _config_digest([method.losses, method.weights, models.ids,
                              {k: first.get(k) for k in _DIFF_FIELDS if k != "mask_source"}], 6)
        what = ", ".join(f"{k}={b}" for k, (a, b) in diffs.items())
        methods.append(dataclasses.replace(method, name=f"{method.name}@{tag}",
                                           label=f"{method.label} [{what}]"))
    if problems:
        raise BenchError(
            f"{rb.out} already holds rows made with another configuration ({'; '.join(problems)}). "
            f"A run folder holds one configuration: use another --out, or pass --allow-mixed to "
            f"add this one as separate columns.")
    return dataclasses.replace(rb, methods=methods)


def _check_resume(done: dict[tuple, dict], key: tuple, cols: dict[str, Any], out: Path) -> None:
    row = done.get(key)
    if row is None or row.get("config_hash") == cols["config_hash"]:
        return
    diff = [f"{k}: {row.get(k)!r} -> {cols.get(k)!r}" for k in _DIFF_FIELDS
            if row.get(k) != cols.get(k)]
    raise BenchError(
        f"{out} already holds results for method {key[1]!r}, mask {key[2]!r} made with another "
        f"configuration ({'; '.join(diff) or 'a different model file'}). Use another --out, or "
        f"delete {out} to start over.")


def run_bench(config: BenchConfig | ResolvedBench, *, echo: Callable[[str], None] | None = print,
              on_batch: Callable[[BatchInfo], None] | None = None) -> BenchResult:
    """Run a benchmark and write its rows, metadata, histories, images and report.

    Args:
        config: the options (resolved here if not already).
        echo: where the one-line notes and the final table go (None: silent).
        on_batch: called after every batch's rows are on disk (tests use it to simulate a kill).

    Returns:
        A :class:`BenchResult`; on rank 0 its ``rows`` hold every row of the run directory.

    Raises:
        BenchError: bad options, missing or mismatched models or data (before any work starts).
    """
    rb = config if isinstance(config, ResolvedBench) else resolve_config(config)
    cfg = rb.config
    say = echo or (lambda s: None)
    env = dist_env()
    rank, world, distributed = env.rank, env.world_size, env.distributed
    shard = None
    if cfg.shard is not None:
        from .shards import parse_shard

        if distributed:
            raise BenchError("--shard runs one shard per process, without torchrun; under torchrun "
                             "the ranks shard the images already")
        shard = parse_shard(cfg.shard)
        rank, world = shard[0] - 1, shard[1]
    started_dist = False
    if distributed and torch.distributed.is_available() and not torch.distributed.is_initialized():
        import datetime

        backend = "nccl" if (cfg.device or "").startswith("cuda") else "gloo"
        torch.distributed.init_process_group(backend, timeout=datetime.timedelta(hours=12))
        started_dist = True
    try:
        lock = contextlib.nullcontext()
        if rank == 0 or shard:  # the folder is checked, then held, before any data or model is read
            from .shards import shard_lock_name

            claim_run_dir(rb.out, RUN_KIND)
            lock = run_lock(rb.out, "bench" if not shard else f"bench --shard {cfg.shard}",
                            name=".lock" if not shard else shard_lock_name(*shard))
        fresh = not rb.out.exists() or not any(rb.out.iterdir())
        try:
            with lock, _preserved_rng():
                if rank == 0 and not shard:  # shards run side by side: none touches another's files
                    remove_stale_tmp(rb.out)  # what a killed run's atomic writes left behind
                quiet = say if rank == 0 else (lambda s: None)
                return _run(rb, quiet, on_batch, rank, world, distributed)
        except BenchError:
            if fresh and (rank == 0 or shard):  # refused before any work: leave no empty folder
                remove_empty_run_dir(rb.out)
            raise
    finally:
        if started_dist:
            torch.distributed.destroy_process_group()


@contextlib.contextmanager
def _preserved_rng():
    """Seed freely inside, leave the caller's Python/NumPy/torch random state as it was."""
    py, npy = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(npy)


def _run(rb: ResolvedBench, say, on_batch, rank: int, world: int, distributed: bool) -> BenchResult:
    from .masks import MaskError

    cfg = rb.config
    device = resolve_device(cfg.device)
    if distributed and device.type == "cuda" and cfg.device in (None, "cuda", "auto"):
        device = torch.device("cuda", dist_env().local_rank)
    seed_everything(cfg.seed)

    if rb.mode == "demo":
        for key in ("gan", "classifier", "eval_classifier"):
            needed = {"gan": rb.needs_gan, "classifier": rb.needs_classifier,
                      "eval_classifier": True}[key]
            if getattr(cfg, key) is None and needed:
                setattr(cfg, key, str(bundled_asset(key)))
    elif rb.mode == "custom" and cfg.data != "synthetic-cars" and rb.needs_gan and cfg.gan is None:
        raise BenchError("--gan CKPT is required with --data (the bundled GAN was trained on "
                         "synthetic-cars)")
    elif rb.mode == "custom" and rb.needs_gan and cfg.gan is None:
        cfg.gan = str(bundled_asset("gan"))
    if rb.mode == "custom" and rb.needs_classifier and cfg.classifier is None:
        if cfg.data == "synthetic-cars":
            cfg.classifier = str(bundled_asset("classifier"))
        else:
            raise BenchError("the sem/cat losses need --classifier CKPT")

    data, n = _load_data(rb)
    size = data.image_size
    # Every mask of the run is made (and checked) before any model loads: a bad mask file or PNG
    # fails here, not after the first mask's rows.
    mask_file = _read_mask_file(cfg.mask_file, cfg.mask_polarity) if cfg.mask_file else None
    paths = data.extras.get("path")  # a folder dataset: its files' names, for masks keyed by name
    stems = None if paths is None else [Path(str(q)).stem for q in np.asarray(paths)]
    data_masks = data.extras.get("random_masks")
    if data_masks is not None and np.asarray(data_masks).shape[1:] != (size, size):
        data_masks = None
    ids_all = np.arange(cfg.start, cfg.start + n)
    run_masks = {}
    for mask_spec in cfg.masks:
        try:
            run_masks[mask_spec] = image_masks(mask_spec, ids_all, (size, size), cfg.seed, data_masks,
                                               mask_file, stems, cfg.mask_polarity)
        except (MaskError, KeyError, FileNotFoundError) as e:
            raise BenchError(f"mask {mask_spec!r}: {e.args[0] if e.args else e}") from e
    models = _load_models(rb, data, device)
    if any(m.name == "nn" for m in rb.methods):
        models.pool = _load_pool(rb, size)
    if any(m.name == "ce" for m in rb.methods):
        models.ce, models.ids["ce"] = _load_ce(rb, size, device)

    if rb.mode == "demo":
        say(f"Built-in demo (no --data/--gan/--classifier): {n} synthetic-cars {cfg.split} images, "
            f"{cfg.iters} {cfg.optimizer} iterations, masks {','.join(cfg.masks)}, bundled models "
            f"in {assets_dir()}; scaled down to run in minutes on a CPU -- pass --data, --gan and "
            f"--classifier (or --preset paper-table1) for a real benchmark.")
    elif rb.mode == "dry-run":
        say(f"Dry run: random dcgan_test and TinyFeatureNet models, {n} images of {size}x{size}, "
            f"{cfg.iters} iterations; the numbers mean nothing.")
    for note in rb.notes:
        say(note)

    out = rb.out
    store = RowStore(out, rank, world)
    done = store.done()
    rb = _settle_methods(rb, list(done.values()), models, device, run_masks)
    if cfg.retry_errors:
        done = {k: r for k, r in done.items() if not r.get("error")}
    labels = data.labels
    my_ids = ids_all[rank::world]
    grid_ids = ids_all if cfg.save_images < 0 else ids_all[: cfg.save_images]
    grid_set = set(int(i) for i in grid_ids)

    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    shard = cfg.shard is not None
    writes_meta = rank == 0 or shard  # each shard describes itself in its own file
    if writes_meta:
        _write_meta(out, rb, data, n, device, models, status="running", extra={"started": started})

    new_rows = new_errors = 0
    batches_done = 0
    t_run = time.perf_counter()
    try:
        new_rows, new_errors, batches_done = _sweep(
            rb, data, labels, models, device, run_masks, ids_all, my_ids, grid_ids, grid_set, done,
            store, on_batch, rank)
    except Exception as e:
        if writes_meta:  # the folder says the run stopped, and why, instead of "running" forever
            _write_meta(out, rb, data, n, device, models, status="failed",
                        extra={"started": started, "error": f"{type(e).__name__}: {e}"[:2000]})
        raise

    if distributed:
        count = torch.tensor([new_rows, new_errors], dtype=torch.long,
                             device=device if device.type == "cuda" else "cpu")
        torch.distributed.all_reduce(count)  # also the barrier before rank 0 merges
        new_rows, new_errors = (int(v) for v in count.tolist())
    report = None
    rows: list[dict[str, Any]] = []
    if shard:  # no merge and no report: the other shards may still be running
        mine = [r for r in store.done().values() if r.get("rank") == rank]
        all_failed = bool(new_rows) and new_errors == new_rows
        _write_meta(out, rb, data, n, device, models, status="failed" if all_failed else "complete",
                    extra={"started": started, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                           "new_rows": new_rows, "errors": new_errors,
                           "wall_seconds": round(time.perf_counter() - t_run, 2)})
        if all_failed:
            first = next(r["error"] for r in mine if r.get("error"))
            raise BenchFailed(f"all {new_rows} rows shard {cfg.shard} computed failed; the first "
                              f"error: {first}")
        say(f"shard {cfg.shard}: {len(mine)} rows in {store.path} ({new_rows} new); once every "
            f"shard is done: inpaintkit merge {out}")
        return BenchResult(out, mine, None, new_rows)
    if rank == 0:
        store.merge()
        rows = read_rows(out)
        rows_to_csv(out)
        errors = sum(1 for r in rows if r.get("error"))
        all_failed = (rows and errors == len(rows)) or (new_rows and new_errors == new_rows)
        _write_meta(out, rb, data, n, device, models, status="failed" if all_failed else "complete",
                    extra={"started": started, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                           "rows": len(rows), "errors": errors, "new_rows": new_rows,
                           "wall_seconds": round(time.perf_counter() - t_run, 2)})
        if all_failed:
            first = next(r["error"] for r in rows if r.get("error"))
            which = f"all {new_rows} rows this run computed" if new_rows else f"all {len(rows)} rows"
            raise BenchFailed(f"{which} failed, so there are no results; the first error: {first} "
                              f"(see the error column of {out / 'rows.jsonl'})")
        if cfg.report:
            from .report import make_report

            report = make_report(out, echo=say)
            if report.reading:
                say("Reading: " + report.reading)
        say(f"results: {out} ({len(rows)} rows, {new_rows} new"
            + (f", {errors} failed: see the error column" if errors else "") + ")")
        if report is not None:
            for grid in report.grids:
                say(f"grid: {grid}")
    if distributed:
        torch.distributed.barrier()
    return BenchResult(out, rows, report, new_rows)


def _sweep(rb, data, labels, models, device, run_masks, ids_all, my_ids, grid_ids, grid_set, done,
           store, on_batch, rank) -> tuple[int, int, int]:
    """Every (mask, method, batch) still to do; returns (new rows, new error rows, batches)."""
    cfg = rb.config
    out = rb.out
    new_rows = new_errors = batches_done = 0
    for mask_spec in cfg.masks:
        masks_all, source = run_masks[mask_spec]
        if cfg.start:  # indexed by image id below
            masks_all = np.concatenate([np.ones((cfg.start, *masks_all.shape[1:]), bool), masks_all])
        if rank == 0 and len(grid_ids):
            x_grid = data.images[grid_ids]
            _save_npz(out / "images" / f"inputs__{_slug(mask_spec)}.npz", ids=grid_ids,
                      target=x_grid, known=masks_all[grid_ids])
        for method in rb.methods:
            cols = _config_columns(rb, method, mask_spec, source, models, device)
            todo = []
            for i in my_ids:
                key = (int(i), method.name, mask_spec)
                _check_resume(done, key, cols, out)
                if key not in done:
                    todo.append(int(i))
            batches = [todo[k:k + cfg.batch_size] for k in range(0, len(todo), cfg.batch_size)]
            bar = _bar(len(todo), f"{method.label} | {mask_spec}", cfg.progress and rank == 0)
            for batch_ids in batches:
                rows = _run_batch(rb, method, mask_spec, batch_ids, data, labels, masks_all, models,
                                  device, cols, out, grid_set, rank)
                store.append(rows)
                new_rows += len(rows)
                new_errors += sum(1 for r in rows if r.get("error"))
                batches_done += 1
                if bar is not None:
                    ok = [r["psnr"] for r in rows if not r.get("error")]
                    bar.update(len(rows))
                    if ok:
                        bar.set_postfix(psnr=f"{np.mean(ok):.2f}")
                if on_batch is not None:
                    on_batch(BatchInfo(method.name, mask_spec, list(batch_ids), batches_done))
            if bar is not None:
                bar.close()
    return new_rows, new_errors, batches_done


def _bar(total: int, desc: str, enabled: bool):
    if not enabled or total == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="img", file=sys.stderr, leave=False,
                dynamic_ncols=True)


def _run_batch(rb, method, mask_spec, batch_ids, data, labels, masks_all, models, device, cols,
               out, grid_set, rank) -> list[dict[str, Any]]:
    """Rows of one batch; a failing batch is retried image by image, so one bad image costs one
    error row, not the batch."""
    try:
        return _run_images(rb, method, mask_spec, batch_ids, data, labels, masks_all, models,
                           device, cols, out, grid_set, rank)
    except Exception as e:  # noqa: BLE001 - recorded in the rows, the sweep goes on
        if len(batch_ids) == 1:
            return [_error_row(batch_ids[0], method, mask_spec, cols, labels, e, rank)]
        rows = []
        for i in batch_ids:
            try:
                rows += _run_images(rb, method, mask_spec, [i], data, labels, masks_all, models,
                                    device, cols, out, grid_set, rank)
            except Exception as e1:  # noqa: BLE001
                rows.append(_error_row(i, method, mask_spec, cols, labels, e1, rank))
        return rows


def _error_row(i, method, mask_spec, cols, labels, e, rank) -> dict[str, Any]:
    return {"image_id": int(i), "method": method.name, "mask": mask_spec, **cols,
            "label": None if labels is None else int(labels[i]), "rank": rank,
            "error": f"{type(e).__name__}: {e}"[:2000]}


def _run_images(rb, method, mask_spec, ids, data, labels, masks_all, models, device, cols, out,
                grid_set, rank) -> list[dict[str, Any]]:
    from .metrics import inpainting_metrics

    cfg = rb.config
    idx = np.asarray(ids)
    x, _ = data.get_batch(idx)
    x = x.to(device)
    mask = torch.from_numpy(masks_all[idx].astype(np.float32))[:, None].to(device)
    y = torch.where(mask.bool().expand_as(x), x, torch.zeros((), device=device))  # hole never read
    run = _run_search if method.kind == "search" else _run_baseline
    _sync(device)
    t0 = time.perf_counter()
    res = run(method, rb, models, y, mask, mask_spec, ids)
    _sync(device)
    seconds = (time.perf_counter() - t0) / len(ids)

    scored = inpainting_metrics(res.output, x, mask)
    same = res.overlay is res.output or torch.equal(res.overlay, res.output)
    plain = scored if same else inpainting_metrics(res.overlay, x, mask)
    if cfg.lpips:
        from .metrics import lpips

        scored = {**scored, "lpips": lpips(res.output, x)}
        plain = scored if same else {**plain, "lpips": lpips(res.overlay, x)}
    ev = _evaluate(models.evaluator, res.output, x) if models.evaluator is not None else None

    tag = f"r{rank}-{ids[0]}-{len(ids)}-{_config_digest(list(map(int, ids)), 8)}"
    folder = f"{_slug(method.name)}__{_slug(mask_spec)}"
    history_file = None
    if res.history:
        history_file = f"histories/{folder}/{tag}.npz"
        arrays = {}
        for k, v in res.history.items():
            v = np.asarray(v, dtype=np.float64).reshape(len(v), -1)
            arrays[f"sum__{k}"] = np.nansum(np.where(np.isfinite(v), v, np.nan), axis=1)
            arrays[f"count__{k}"] = np.isfinite(v).sum(1)
        _save_npz(out / history_file, ids=idx, **arrays)
    images_file = None
    in_grid = [k for k, i in enumerate(ids) if int(i) in grid_set]
    if in_grid:
        images_file = f"images/{folder}/{tag}.npz"
        sel = torch.as_tensor(in_grid, device=res.output.device)
        extra = {"g": to_uint8(res.g[sel])} if res.g is not None else {}
        if not same:  # a baseline's composite is its output: stored once (--save-images -1 is big)
            extra["overlay"] = to_uint8(res.overlay[sel])
        _save_npz(out / images_file, ids=idx[in_grid], output=to_uint8(res.output[sel]), **extra)

    test_index = data.extras.get("test_index")
    if test_index is not None and np.asarray(test_index).shape != (len(data),):
        test_index = None
    rows = []
    for k, i in enumerate(ids):
        label = None if labels is None else int(labels[i])
        row = {"image_id": int(i), "method": method.name, "mask": mask_spec, **cols,
               "label": label, "hole_fraction": float(1.0 - masks_all[i].mean()),
               "rank": rank, "seconds": seconds}
        if test_index is not None:  # Stanford Cars val.npz: the image's index in the official split
            row["test_index"] = int(test_index[i])
        for m, v in scored.items():
            row[m] = float(v[k])
        for m, v in plain.items():
            row[f"{m}_overlay"] = float(v[k])
        if res.total is not None:
            row["loss_total"] = float(res.total[k])
        for t, v in res.terms.items():
            row[f"loss_{t}"] = float(v[k])
        for t, v in res.weights.items():  # the weight used (auto weights: set per image)
            row[f"w_{t}"] = float(v[k])
        if res.z_clip is not None:
            row["z_clip"] = float(res.z_clip[k])
        if ev is not None:
            pred, pred_gt = ev
            row["eval_pred"] = int(pred[k])
            row["eval_pred_gt"] = int(pred_gt[k])
            if label is not None and label >= 0:
                row["eval_correct"] = bool(pred[k] == label)
                row["eval_correct_gt"] = bool(pred_gt[k] == label)
        row["history_file"] = history_file
        row["images_file"] = images_file if int(i) in grid_set else None
        row["error"] = ""
        rows.append(row)
    return rows


@torch.no_grad()
def _evaluate(evaluator, output: torch.Tensor, target: torch.Tensor,
              ) -> tuple[np.ndarray, np.ndarray]:
    """Top-1 predictions of the evaluator on the outputs and on the ground truth."""
    _, logits = evaluator(output)
    _, logits_gt = evaluator(target)
    return logits.argmax(1).cpu().numpy(), logits_gt.argmax(1).cpu().numpy()


def _write_meta(out: Path, rb: ResolvedBench, data, n: int, device: torch.device, models: _Models,
                status: str, extra: dict[str, Any] | None = None) -> None:
    cfg = rb.config
    if cfg.shard is not None:
        from .shards import parse_shard, shard_meta_name

        path = out / shard_meta_name(*parse_shard(cfg.shard))
    else:
        path = out / "meta.json"
    previous = []
    if path.is_file():
        try:
            old = json.loads(path.read_text())
            previous = old.get("previous_runs", [])
            if status == "running":
                keep = ("argv", "git_commit", "started", "status")
                previous.append({k: old.get(k) for k in keep})
        except (OSError, json.JSONDecodeError):
            previous = []
    meta = run_metadata({**dataclasses.asdict(cfg), "device_resolved": str(device)})
    meta.update({
        "kind": "inpaintkit.bench/1",
        "mode": rb.mode,
        "status": status,
        "methods": [dataclasses.asdict(m) for m in rb.methods],
        "masks": list(cfg.masks),
        "data": {"spec": cfg.data, "split": cfg.split, "start": cfg.start, "n": n,
                 "image_size": data.image_size,
                 "num_classes": data.num_classes, "has_labels": data.labels is not None},
        "model_ids": models.ids,
        "scored": {"search": cfg.blend, "baseline": "own fill, not blended"},
        "notes": rb.notes,
        "previous_runs": previous[-20:],
    })
    if extra:
        meta.update(extra)
    atomic_write_json(path, meta)
