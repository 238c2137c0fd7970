"""Scale-out without a process group: ``bench --shard I/N`` and ``inpaintkit merge DIR``.

A sharded run is N independent ``bench`` processes (a Slurm job array, submitit's ``map_array``,
or N shells) with the same options and the same ``--out``, each with ``--shard I/N``. Shard ``I``
(1-based) takes the images ``start + I - 1``, ``start + I - 1 + N``, ... -- the same split as
rank ``I - 1`` of N under ``torchrun`` -- and writes only its own files: ``rows.rank<I-1>.jsonl``,
``meta.shard-<I>-of-<N>.json`` and the lock ``.lock.shard-<I>-of-<N>``. Nothing is shared while
they run, so they need no process group and no shared file system semantics beyond one folder.

:func:`merge_shards` then checks that all N shards finished with one configuration, that every
(image, method, mask) is there exactly once, compacts the rows into ``rows.jsonl`` and writes
``meta.json`` and the report, as the unsharded run would have.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Callable

__all__ = ["ShardError", "parse_shard", "shard_meta_name", "shard_lock_name", "merge_shards"]


class ShardError(ValueError):
    """A bad ``--shard`` value, or shards that cannot be merged (missing, mixed, overlapping)."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``: shard 2 of 4, 1-based.

    Raises:
        ShardError: not ``I/N`` with ``1 <= I <= N``.
    """
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ShardError(f"--shard must be I/N with 1 <= I <= N (e.g. 1/4, as Slurm's "
                         f"$SLURM_ARRAY_TASK_ID/4 with --array=1-4), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def shard_meta_name(i: int, n: int) -> str:
    return f"meta.shard-{i}-of-{n}.json"


def shard_lock_name(i: int, n: int) -> str:
    return f".lock.shard-{i}-of-{n}"


_VOLATILE = ("device", "progress", "report", "shard", "out", "retry_errors", "allow_mixed",
             "device_resolved")


def _shard_metas(directory: Path) -> dict[tuple[int, int], dict[str, Any]]:
    metas = {}
    for p in sorted(directory.glob("meta.shard-*-of-*.json")):
        m = re.fullmatch(r"meta\.shard-(\d+)-of-(\d+)\.json", p.name)
        if m is None:
            continue
        try:
            metas[(int(m.group(1)), int(m.group(2)))] = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            raise ShardError(f"cannot read {p}: {e}") from None
    return metas


def merge_shards(directory: str | os.PathLike, report: bool = True,
                 echo: Callable[[str], None] | None = print):
    """Merge the shards of a ``bench --shard I/N`` run in ``directory``.

    Checks, before writing anything: the N shard metadata files are all there and say
    ``complete``; the shards ran one configuration (the same options, apart from ``--shard`` and
    the device) and, per (method, mask), one config hash; every (image, method, mask) the run
    covers is in exactly one shard's rows. The merged ``meta.json`` carries the shards' provenance
    (argv, versions, commit and machine of shard 1, and ``shard_git_commits`` when the shards ran at
    several commits) and the merge's own under ``merge``.

    Args:
        directory: the shared ``--out`` of the shards.
        report: write (and print) the report, as bench does at the end.
        echo: where messages go.

    Returns:
        The merged rows (one dict per (image, method, mask)).

    Raises:
        ShardError: naming what is missing, mixed or duplicated.
    """
    from ._rows import ROW_KEY, RowStore, _read_file, read_rows, rows_to_csv
    from .utils import atomic_write_json, run_lock, run_metadata

    say = echo or (lambda s: None)
    directory = Path(directory)
    if not directory.is_dir():
        raise ShardError(f"no such run folder: {directory}")
    metas = _shard_metas(directory)
    if not metas:
        raise ShardError(f"{directory} holds no shards (meta.shard-I-of-N.json): run "
                         f"'inpaintkit bench ... --shard I/N --out {directory}' first")
    counts = {n for _, n in metas}
    if len(counts) != 1:
        raise ShardError(f"{directory} holds shards of different splits: of {sorted(counts)}")
    n_shards = counts.pop()
    missing = [i for i in range(1, n_shards + 1) if (i, n_shards) not in metas]
    if missing:
        raise ShardError(f"shard(s) {', '.join(f'{i}/{n_shards}' for i in missing)} of {directory} "
                         f"have not run yet; run them, then merge")
    unfinished = [f"{i}/{n} ({m.get('status')})" for (i, n), m in sorted(metas.items())
                  if m.get("status") != "complete"]
    if unfinished:
        raise ShardError(f"shard(s) {', '.join(unfinished)} of {directory} did not complete; rerun "
                         f"them (they resume), then merge")

    def config(meta: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in meta.get("config", {}).items() if k not in _VOLATILE}

    first = metas[(1, n_shards)]
    for (i, _), meta in sorted(metas.items()):
        diff = sorted(k for k in set(config(first)) | set(config(meta))
                      if config(first).get(k) != config(meta).get(k))
        if diff:
            shown = "; ".join(f"{k}: {config(first).get(k)!r} vs {config(meta).get(k)!r}"
                              for k in diff[:6])
            raise ShardError(f"shard {i}/{n_shards} ran another configuration than shard "
                             f"1/{n_shards} ({shown}); shards of one run share every option but "
                             f"--shard")
        if meta.get("model_ids") != first.get("model_ids"):
            raise ShardError(f"shard {i}/{n_shards} used other model files than shard "
                             f"1/{n_shards} ({meta.get('model_ids')} vs {first.get('model_ids')})")

    with run_lock(directory, "bench"):
        # every key in exactly one shard's rows (a shard may hold a key twice: a retried error)
        owner: dict[tuple, int] = {}
        hashes: dict[tuple, set] = {}
        for i in range(1, n_shards + 1):
            path = directory / f"rows.rank{i - 1}.jsonl"
            for row in (_read_file(path) if path.is_file() else []):
                key = tuple(row[k] for k in ROW_KEY)
                if owner.setdefault(key, i) != i:
                    raise ShardError(f"{key} is in the rows of shards {owner[key]} and {i}; the "
                                     f"shards overlap (were they run with different --n/--start?)")
                hashes.setdefault((row["method"], row["mask"]), set()).add(row.get("config_hash"))
        mixed = {k: v for k, v in hashes.items() if len(v) > 1}
        if mixed:
            (method, mask), hs = next(iter(mixed.items()))
            raise ShardError(f"method {method!r} on mask {mask!r} has rows of {len(hs)} "
                             f"configurations across the shards; a merged run holds one")
        data = first.get("data", {})
        start, n = int(data.get("start", 0)), int(data.get("n", 0))
        methods = [m["name"] for m in first.get("methods", [])]
        expected = {(i, m, k) for i in range(start, start + n) for m in methods
                    for k in first.get("masks", [])}
        merged_before = _main_keys(directory)  # rows an earlier (or interrupted) merge moved
        absent = sorted(expected - set(owner) - merged_before)
        if absent:
            raise ShardError(f"{len(absent)} of {len(expected)} (image, method, mask) rows are "
                             f"missing, e.g. {absent[0]}; rerun the shard(s) that own them")
        extra = [k for k in owner if k not in expected]
        if extra:
            raise ShardError(f"{len(extra)} rows lie outside the run's images, methods and masks, "
                             f"e.g. {extra[0]}")

        store = RowStore(directory)
        store.merge()
        rows = read_rows(directory)
        rows_to_csv(directory)
        errors = sum(1 for r in rows if r.get("error"))
        merging = run_metadata({**first.get("config", {}), "shard": None})
        # the run's provenance is the shards' (the code and machine that computed the rows), not
        # the merge's; the merge's own is kept under "merge"
        ran = {k: first[k] for k in _PROVENANCE if k in first}
        commits = sorted({str(m.get("git_commit")) for m in metas.values()})
        if len(commits) > 1:
            ran["shard_git_commits"] = commits
            say(f"note: the shards ran at {len(commits)} commits ({', '.join(commits)}); "
                f"meta.json records them all")
        meta = {**merging, **ran, "merge": {k: merging[k] for k in _PROVENANCE},
                "kind": "inpaintkit.bench/1", "status": "complete", "mode": first.get("mode"),
                "methods": first.get("methods"), "masks": first.get("masks"),
                "data": data, "model_ids": first.get("model_ids"), "scored": first.get("scored"),
                "notes": first.get("notes", []), "rows": len(rows), "errors": errors,
                "merged_from": [shard_meta_name(i, n_shards) for i in range(1, n_shards + 1)]}
        atomic_write_json(directory / "meta.json", meta)
    say(f"merged {n_shards} shards: {len(rows)} rows in {directory / 'rows.jsonl'}"
        + (f", {errors} failed: see the error column" if errors else ""))
    if report:
        from .report import make_report

        make_report(directory, echo=say)
    return rows


#: run_metadata fields that say which code, packages and machine made the rows
_PROVENANCE = ("argv", "versions", "python", "git_commit", "machine")


def _main_keys(directory: Path) -> set[tuple]:
    """Keys already merged into rows.jsonl by an earlier merge (kept, not counted as extra)."""
    from ._rows import ROW_KEY, ROWS_FILE, _read_file

    path = directory / ROWS_FILE
    return {tuple(r[k] for k in ROW_KEY) for r in _read_file(path)} if path.is_file() else set()
