"""The run folder: the names of the files in it, row identity (config columns and their hash),
resume and mixing checks, saved arrays and ``meta.json``. The rows themselves are stored by
:class:`inpaintkit._rows.RowStore` (``rows.jsonl``, one file per rank or shard)."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..utils import atomic_write_bytes, atomic_write_json, run_metadata
from .config import BenchError, Method, ResolvedBench, config_digest
from .loading import Models
from .plan import SEEDING

#: The run's metadata file (a shard writes its own, :func:`inpaintkit.shards.shard_meta_name`).
META_FILE = "meta.json"


def inputs_path(run_dir: str | os.PathLike, mask: str) -> Path:
    """The targets and known-pixel masks saved for the grids of ``mask`` (written by rank 0)."""
    return Path(run_dir) / "images" / f"inputs__{slug(mask)}.npz"


def batch_file(kind: str, method: str, mask: str, tag: str) -> str:
    """Where one batch's arrays go, relative to the run folder, as the rows' ``history_file`` and
    ``images_file`` columns store it; ``kind`` is ``"histories"`` or ``"images"``."""
    return f"{kind}/{slug(method)}__{slug(mask)}/{tag}.npz"


def slug(s: str) -> str:
    """A method or mask name as part of a file name in the run folder: the name made safe and cut
    to 48 characters, plus 6 hex digits of its hash so that different names never collide."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s)[:48] + "-" + hashlib.sha1(s.encode()).hexdigest()[:6]


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write compressed arrays atomically (a killed run never leaves half an ``.npz``)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def config_columns(rb: ResolvedBench, method: Method, mask: str, mask_source: str,
                   models: Models, device: torch.device) -> dict[str, Any]:
    """The config columns of ``method``'s rows under ``mask``, with ``config_hash``: a hash of the
    settings that make two rows comparable (the model files by content), so a resume never mixes
    rows made differently."""
    cfg = rb.config
    names = rb.row_names
    search = method.kind == "search"
    cols = {
        "method_label": method.label,
        "method_kind": method.kind,
        "loss_spec": method.loss_spec(mask, cfg.monitor or ()) if search else None,
        "data": names["data"],
        "split": cfg.split,
        "mask_source": mask_source,
        "gan": names["gan"] if search else None,
        "classifier": names["classifier"] if search and models.feature_net is not None else None,
        "eval_classifier": names["eval_classifier"],
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
        cols["ce"] = names["ce"]
        identity["ce"] = models.ids.get("ce")
    if search:  # rows seeded per method name (before 2026-12-02) have no column: never mixed
        cols["seeding"] = identity["seeding"] = SEEDING
    identity.update(method=method.name, kind=method.kind, mask=mask, data=cols["data"],
                    gan=models.ids.get("gan") if search else None,
                    classifier=models.ids.get("classifier") if cols["classifier"] else None,
                    evaluator=models.ids.get("eval_classifier"))
    cols["config_hash"] = config_digest(identity, 12)
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


def settle_methods(rb: ResolvedBench, rows: Sequence[dict[str, Any]], models: Models,
                   device: torch.device,
                   run_masks: dict[str, tuple[np.ndarray, str]]) -> ResolvedBench:
    """Refuse to mix configurations in one folder, or (``allow_mixed``) rename the methods whose
    configuration differs from the rows already there, so that they get their own columns."""
    if not rows:
        return rb
    cfg = rb.config
    methods, problems = [], []
    for method in rb.methods:
        planned = {spec: config_columns(rb, method, spec, src, models, device)
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
        tag = config_digest([method.losses, method.weights, models.ids,
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


def check_resume(done: dict[tuple, dict], key: tuple, cols: dict[str, Any], out: Path) -> None:
    """Refuse to resume into a row made with another configuration, naming what differs."""
    row = done.get(key)
    if row is None or row.get("config_hash") == cols["config_hash"]:
        return
    diff = [f"{k}: {row.get(k)!r} -> {cols.get(k)!r}" for k in _DIFF_FIELDS
            if row.get(k) != cols.get(k)]
    raise BenchError(
        f"{out} already holds results for method {key[1]!r}, mask {key[2]!r} made with another "
        f"configuration ({'; '.join(diff) or 'a different model file'}). Use another --out, or "
        f"delete {out} to start over.")


def write_meta(out: Path, rb: ResolvedBench, *, data: Any, n: int, device: torch.device,
               models: Models, status: str, extra: dict[str, Any] | None = None) -> None:
    """Write the run's ``meta.json`` (a shard's own file under ``--shard``), keeping the start of
    earlier runs into the same folder in ``previous_runs``."""
    cfg = rb.config
    if cfg.shard is not None:
        from ..shards import parse_shard, shard_meta_name

        path = out / shard_meta_name(*parse_shard(cfg.shard))
    else:
        path = out / META_FILE
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
        "methods": [m.to_dict() for m in rb.methods],
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
