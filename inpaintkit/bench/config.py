"""The options of ``inpaintkit bench`` and how they resolve: preset, demo or dry run, then defaults.

:func:`resolve_config` fills in every option of a :class:`BenchConfig` and checks every name
(methods, baselines, losses, masks, optimiser, blend) without loading any data or model; its
:class:`ResolvedBench` also lists the methods, one table column each.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .._presets import (
    ALL_TERMS,
    DEMO,
    DRY_RUN,
    WEIGHT_TABLES,
    default_weights_for_mask,
    get_preset,
    list_presets,
)
from ..utils.device import CPU_FEATURE_BATCH

if TYPE_CHECKING:
    from ..losses import LossSpec

#: ``meta.json``'s ``kind``: other commands refuse to write into a folder of this kind.
RUN_KIND = "inpaintkit.bench"
DEFAULT_MASKS = ("center", "left", "random:0.7")
DEFAULT_LOSSES = ("context,prior,sem,cat",)
DEFAULT_BASELINES = ("im", "yeh")
YEH_LOSSES = "context,prior"
_LIBRARY_DEFAULTS = {"masks": DEFAULT_MASKS, "split": "test", "iters": 1500, "restarts": 1,
                     "restart_reduce": "best",
                     "optimizer": "adam", "precision": "auto", "blend": "poisson",
                     "save_images": 16, "weights": "calibrated", "mask_polarity": "known"}


class BenchError(ValueError):
    """A bad benchmark option: unknown method or mask, missing model, wrong sizes, --n too large."""


class BenchFailed(ValueError):
    """The run went through, but every row it computed failed: its numbers do not exist."""


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
        precision: ``auto`` (default), ``fp32`` or ``bf16`` (the search's networks under bfloat16
            autocast; see :class:`~inpaintkit.search.SearchConfig`). ``auto`` is resolved here,
            for the device, so the rows and the run's hash record what ran.
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
        losses: the loss spec of a search as given (``yeh``: ``context,prior``).
        weights: the default-weight table for terms the spec gives no weight
            (:func:`~inpaintkit._presets.default_weights_for_mask`).
        spec: ``losses`` parsed, once, when the method is made
            (:class:`~inpaintkit.losses.LossSpec`); ``None`` for a baseline.
    """

    name: str
    label: str
    kind: str
    losses: str | None = None
    weights: str = "calibrated"
    spec: LossSpec | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The method as ``meta.json`` records it: the fields as given, not the parsed spec."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "spec"}

    def __post_init__(self) -> None:
        if self.spec is None and self.losses is not None:
            from ..losses import LossSpec

            self.spec = LossSpec.parse(self.losses)

    def resolved_spec(self, mask: str, monitor: Sequence[str] = ()) -> LossSpec:
        """The spec a search runs on ``mask``: per-mask default weights (from the ``weights``
        table) for the terms the spec gives none, monitored terms appended with weight 0."""
        if self.spec is None:
            raise ValueError(f"method {self.name!r} is a baseline; it has no loss spec")
        return self.spec.with_defaults(default_weights_for_mask(mask, self.weights)).monitoring(monitor)

    def loss_spec(self, mask: str, monitor: Sequence[str] = ()) -> str:
        """:meth:`resolved_spec` as its canonical string (the rows' ``loss_spec`` column)."""
        return self.resolved_spec(mask, monitor).canonical


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
        monitor = self.config.monitor or ()
        return any(m.spec.monitoring(monitor).needs_feature_net
                   for m in self.methods if m.kind == "search")

    @property
    def row_names(self) -> dict[str, str | None]:
        """How the rows name the data and the model files (``data``, ``gan``, ``classifier``,
        ``eval_classifier``, ``ce``): the options as given, or the tiny random models of a dry run."""
        cfg = self.config
        if self.mode != "dry-run":
            return {"data": cfg.data, "gan": cfg.gan, "classifier": cfg.classifier,
                    "eval_classifier": cfg.eval_classifier, "ce": cfg.ce}
        return {"data": cfg.data or "synthetic-cars (dry run)", "gan": "dry-run:dcgan_test",
                "classifier": "dry-run:tiny", "eval_classifier": "dry-run:tiny-eval",
                "ce": cfg.ce or "dry-run:ce"}


def _split_list(values: Sequence[str] | None) -> tuple[str, ...] | None:
    """``("center,left", "random:0.7")`` -> ``("center", "left", "random:0.7")``."""
    if values is None:
        return None
    out: list[str] = []
    for v in values:
        out += [p.strip() for p in str(v).split(",") if p.strip()]
    return tuple(out)


def config_digest(obj: Any, n: int = 10) -> str:
    """A short hex digest of ``obj`` as sorted JSON: the run-folder name and the rows' config hash."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def _resolve_precision(precision: str, device: str | None) -> str:
    """``auto`` -> ``bf16`` where the device computes it natively, else ``fp32``."""
    from ..utils import DeviceError, resolve_device, resolve_precision

    try:
        dev = resolve_device(device)
    except DeviceError:
        return precision if precision != "auto" else "fp32"  # the device error comes later, with its context
    return resolve_precision(precision, dev)


def _default_batch(cfg: BenchConfig, methods: list[Method]) -> int:
    """``--batch-size`` when neither the user nor a preset gives one
    (:func:`~inpaintkit.utils.default_batch_size`: 8 for a classifier-term search on a CPU, else 64)."""
    from ..utils import DEFAULT_BATCH, DeviceError, default_batch_size, resolve_device

    try:
        device = resolve_device(cfg.device)
    except DeviceError:
        return DEFAULT_BATCH  # the device error comes later, with its context
    features = any(m.spec.monitoring(cfg.monitor or ()).needs_feature_net
                   for m in methods if m.kind == "search" and m.spec is not None)
    return default_batch_size(device, features)


def resolve_config(config: BenchConfig) -> ResolvedBench:
    """Fill in every option and check the names, without loading any data or model.

    Precedence: an option given explicitly > ``--preset`` > the built-in demo (no ``--data``,
    ``--gan`` or ``--classifier``) or ``--dry-run`` > the library defaults.

    Raises:
        BenchError: unknown preset, method, baseline, loss, mask, optimiser or blend; bad numbers.
    """
    from ..baselines import BASELINES
    from ..blend import BLENDS
    from ..losses import LossSpec, LossSpecError
    from ..masks import MaskError, check_mask_spec
    from ..utils import PRECISIONS

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
        if name == "batch_size" and v is None:
            continue  # resolved below, once the methods are known
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
    if cfg.precision not in PRECISIONS:
        raise BenchError(f"unknown precision {cfg.precision!r}; choose one of {', '.join(PRECISIONS)}")
    cfg.precision = _resolve_precision(cfg.precision, cfg.device)
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
        from ..masks import mask_file_sets

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
        from ..metrics import LPIPSUnavailable, check_lpips

        try:
            check_lpips("alex")
        except LPIPSUnavailable as e:
            raise BenchError(f"--lpips: {e}") from None
    if cfg.shard is not None:
        from ..shards import ShardError, parse_shard

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
    yeh = LossSpec.parse(YEH_LOSSES)
    for text in cfg.losses:
        try:
            spec = LossSpec.parse(text)
        except LossSpecError as e:
            raise BenchError(f"bad --losses {text!r}: {e}") from e
        name = "".join(text.split())
        if any(m.name == name for m in methods):
            raise BenchError(f"method {name!r} is listed twice")
        # compared on the calibrated table whatever --weights says (as it always was)
        same_as_yeh = all(spec.with_defaults(default_weights_for_mask(k)).canonical
                          == yeh.with_defaults(default_weights_for_mask(k)).canonical
                          for k in cfg.masks)
        if same_as_yeh and any(m.name == "yeh" for m in methods):
            notes.append(f"--losses {text} is the yeh method, which already runs; not run twice")
            continue
        methods.append(Method(name, labels.get(name, name), "search", name, cfg.weights, spec))
    if not methods:
        raise BenchError("nothing to run: give --losses SPEC and/or --baselines NAMES")
    if cfg.monitor:
        from ..losses import LOSSES

        bad = [t for t in cfg.monitor if t not in LOSSES]
        if bad:
            raise BenchError(f"unknown loss term(s) {bad} in --monitor; known: "
                             f"{', '.join(LOSSES.list())}")

    if cfg.batch_size is None:
        cfg.batch_size = _default_batch(cfg, methods)
        if cfg.batch_size == CPU_FEATURE_BATCH:
            notes.append(f"--batch-size {cfg.batch_size}: a classifier-term search runs fastest at "
                         f"about {cfg.batch_size} images per batch on a CPU (results unchanged)")

    if cfg.out is None:
        key = {k: v for k, v in dataclasses.asdict(cfg).items()
               if k not in ("out", "device", "progress", "report", "retry_errors", "batch_size",
                            "allow_mixed", "shard")
               and not (k == "mask_polarity" and v == "known")  # (keeps earlier runs' folders)
               and not (k == "lpips" and not v)}
        cfg.out = str(Path("runs") / f"bench-{mode}-{config_digest(key, 8)}")
    return ResolvedBench(cfg, methods, mode, notes, labels)


def _split_losses(values: Sequence[str] | None) -> tuple[str, ...] | None:
    # a loss spec contains commas itself: one spec per --losses option, never split
    if values is None:
        return None
    return tuple(v.strip() for v in values if v.strip())

