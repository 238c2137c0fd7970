"""The sweep: every (mask, method, batch) still to do, rows appended as each batch finishes,
under one lock per run folder, one process per rank or shard; then the merge and the report."""
from __future__ import annotations

import contextlib
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .._rows import RowStore, read_rows, rows_to_csv
from ..utils import (
    claim_run_dir,
    dist_env,
    remove_empty_run_dir,
    remove_stale_tmp,
    resolve_device,
    run_lock,
    seed_everything,
    to_uint8,
)
from .assets import assets_dir, with_model_paths
from .config import (
    RUN_KIND,
    BenchConfig,
    BenchError,
    BenchFailed,
    Method,
    ResolvedBench,
    config_digest,
    resolve_config,
)
from .loading import Models, load_ce, load_data, load_models, load_pool
from .methods import baseline_batch, evaluate_top1, search_batch, sync
from .plan import image_masks, load_mask_file
from .rundir import (
    batch_file,
    check_resume,
    config_columns,
    inputs_path,
    save_npz,
    settle_methods,
    write_meta,
)


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
        from ..shards import parse_shard

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
            from ..shards import shard_lock_name

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
    from ..masks import MaskError

    cfg = rb.config
    device = resolve_device(cfg.device)
    if distributed and device.type == "cuda" and cfg.device in (None, "cuda", "auto"):
        device = torch.device("cuda", dist_env().local_rank)
    seed_everything(cfg.seed)

    rb = with_model_paths(rb)
    cfg = rb.config

    data, n = load_data(rb)
    size = data.image_size
    # Every mask of the run is made (and checked) before any model loads: a bad mask file or PNG
    # fails here, not after the first mask's rows.
    mask_file = load_mask_file(cfg.mask_file, cfg.mask_polarity) if cfg.mask_file else None
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
                                               mask_file, stems=stems, polarity=cfg.mask_polarity)
        except (MaskError, KeyError, FileNotFoundError) as e:
            raise BenchError(f"mask {mask_spec!r}: {e.args[0] if e.args else e}") from e
    models = load_models(rb, data, device)
    if any(m.name == "nn" for m in rb.methods):
        models.pool = load_pool(rb, size)
    if any(m.name == "ce" for m in rb.methods):
        models.ce, models.ids["ce"] = load_ce(rb, size, device)

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
    rb = settle_methods(rb, list(done.values()), models, device, run_masks)
    if cfg.retry_errors:
        done = {k: r for k, r in done.items() if not r.get("error")}
    my_ids = ids_all[rank::world]
    grid_ids = ids_all if cfg.save_images < 0 else ids_all[: cfg.save_images]
    grid_set = set(int(i) for i in grid_ids)

    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    shard = cfg.shard is not None
    writes_meta = rank == 0 or shard  # each shard describes itself in its own file
    if writes_meta:
        write_meta(out, rb, data=data, n=n, device=device, models=models, status="running",
                   extra={"started": started})

    new_rows = new_errors = 0
    batches_done = 0
    t_run = time.perf_counter()
    try:
        sweep = _Sweep(rb, data, models, device, rank, grid_set)
        new_rows, new_errors, batches_done = _sweep(sweep, run_masks, my_ids, grid_ids, done=done,
                                                    store=store, on_batch=on_batch)
    except Exception as e:
        if writes_meta:  # the folder says the run stopped, and why, instead of "running" forever
            write_meta(out, rb, data=data, n=n, device=device, models=models, status="failed",
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
        write_meta(out, rb, data=data, n=n, device=device, models=models,
                   status="failed" if all_failed else "complete",
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
        write_meta(out, rb, data=data, n=n, device=device, models=models,
                   status="failed" if all_failed else "complete",
                   extra={"started": started, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                          "rows": len(rows), "errors": errors, "new_rows": new_rows,
                          "wall_seconds": round(time.perf_counter() - t_run, 2)})
        if all_failed:
            first = next(r["error"] for r in rows if r.get("error"))
            which = f"all {new_rows} rows this run computed" if new_rows else f"all {len(rows)} rows"
            raise BenchFailed(f"{which} failed, so there are no results; the first error: {first} "
                              f"(see the error column of {out / 'rows.jsonl'})")
        if cfg.report:
            from ..report import make_report

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


@dataclass
class _Sweep:
    """What every batch of a run reads: the resolved options, the data and models, this process's
    rank, and the images whose outputs are saved for the grids."""

    rb: ResolvedBench
    data: Any
    models: Models
    device: torch.device
    rank: int
    grid_set: set[int]

    @property
    def labels(self) -> np.ndarray | None:
        return self.data.labels

    @property
    def out(self) -> Path:
        return self.rb.out


@dataclass
class _Job:
    """One (method, mask) of the sweep: the masks of every image id, and the rows' config columns."""

    method: Method
    mask_spec: str
    masks_all: np.ndarray
    cols: dict[str, Any]


def _sweep(sw: _Sweep, run_masks: dict[str, tuple[np.ndarray, str]], my_ids: np.ndarray,
           grid_ids: np.ndarray, *, done: dict[tuple, dict], store: RowStore,
           on_batch: Callable[[BatchInfo], None] | None) -> tuple[int, int, int]:
    """Every (mask, method, batch) still to do; returns (new rows, new error rows, batches)."""
    rb, data, rank = sw.rb, sw.data, sw.rank
    cfg = rb.config
    out = rb.out
    new_rows = new_errors = batches_done = 0
    for mask_spec in cfg.masks:
        masks_all, source = run_masks[mask_spec]
        if cfg.start:  # indexed by image id below
            masks_all = np.concatenate([np.ones((cfg.start, *masks_all.shape[1:]), bool), masks_all])
        if rank == 0 and len(grid_ids):
            x_grid = data.images[grid_ids]
            save_npz(inputs_path(out, mask_spec), ids=grid_ids,
                      target=x_grid, known=masks_all[grid_ids])
        for method in rb.methods:
            cols = config_columns(rb, method, mask_spec, source, sw.models, sw.device)
            job = _Job(method, mask_spec, masks_all, cols)
            todo = []
            for i in my_ids:
                key = (int(i), method.name, mask_spec)
                check_resume(done, key, cols, out)
                if key not in done:
                    todo.append(int(i))
            batches = [todo[k:k + cfg.batch_size] for k in range(0, len(todo), cfg.batch_size)]
            bar = _bar(len(todo), f"{method.label} | {mask_spec}", cfg.progress and rank == 0)
            for batch_ids in batches:
                rows = _run_batch(sw, job, batch_ids)
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


def _run_batch(sw: _Sweep, job: _Job, batch_ids: list[int]) -> list[dict[str, Any]]:
    """Rows of one batch; a failing batch is retried image by image, so one bad image costs one
    error row, not the batch."""
    try:
        return _run_images(sw, job, batch_ids)
    except Exception as e:  # noqa: BLE001 - recorded in the rows, the sweep goes on
        if len(batch_ids) == 1:
            return [_error_row(sw, job, batch_ids[0], e)]
        rows = []
        for i in batch_ids:
            try:
                rows += _run_images(sw, job, [i])
            except Exception as e1:  # noqa: BLE001
                rows.append(_error_row(sw, job, i, e1))
        return rows


def _error_row(sw: _Sweep, job: _Job, i: int, e: BaseException) -> dict[str, Any]:
    labels = sw.labels
    return {"image_id": int(i), "method": job.method.name, "mask": job.mask_spec, **job.cols,
            "label": None if labels is None else int(labels[i]), "rank": sw.rank,
            "error": f"{type(e).__name__}: {e}"[:2000]}


def _run_images(sw: _Sweep, job: _Job, ids: list[int]) -> list[dict[str, Any]]:
    from ..metrics import inpainting_metrics

    rb, data, labels, models, device = sw.rb, sw.data, sw.labels, sw.models, sw.device
    out, grid_set, rank = sw.out, sw.grid_set, sw.rank
    method, mask_spec, masks_all, cols = job.method, job.mask_spec, job.masks_all, job.cols
    cfg = rb.config
    idx = np.asarray(ids)
    x, _ = data.get_batch(idx)
    x = x.to(device)
    mask = torch.from_numpy(masks_all[idx].astype(np.float32))[:, None].to(device)
    y = torch.where(mask.bool().expand_as(x), x, torch.zeros((), device=device))  # hole never read
    run = search_batch if method.kind == "search" else baseline_batch
    sync(device)
    t0 = time.perf_counter()
    res = run(method, rb, models, y, mask, mask_spec=mask_spec, ids=ids)
    sync(device)
    seconds = (time.perf_counter() - t0) / len(ids)

    scored = inpainting_metrics(res.output, x, mask)
    same = res.overlay is res.output or torch.equal(res.overlay, res.output)
    plain = scored if same else inpainting_metrics(res.overlay, x, mask)
    if cfg.lpips:
        from ..metrics import lpips

        scored = {**scored, "lpips": lpips(res.output, x)}
        plain = scored if same else {**plain, "lpips": lpips(res.overlay, x)}
    ev = evaluate_top1(models.evaluator, res.output, x) if models.evaluator is not None else None

    tag = f"r{rank}-{ids[0]}-{len(ids)}-{config_digest(list(map(int, ids)), 8)}"
    history_file = None
    if res.history:
        history_file = batch_file("histories", method.name, mask_spec, tag)
        arrays = {}
        for k, v in res.history.items():
            v = np.asarray(v, dtype=np.float64).reshape(len(v), -1)
            arrays[f"sum__{k}"] = np.nansum(np.where(np.isfinite(v), v, np.nan), axis=1)
            arrays[f"count__{k}"] = np.isfinite(v).sum(1)
        save_npz(out / history_file, ids=idx, **arrays)
    images_file = None
    in_grid = [k for k, i in enumerate(ids) if int(i) in grid_set]
    if in_grid:
        images_file = batch_file("images", method.name, mask_spec, tag)
        sel = torch.as_tensor(in_grid, device=res.output.device)
        extra = {"g": to_uint8(res.g[sel])} if res.g is not None else {}
        if not same:  # a baseline's composite is its output: stored once (--save-images -1 is big)
            extra["overlay"] = to_uint8(res.overlay[sel])
        save_npz(out / images_file, ids=idx[in_grid], output=to_uint8(res.output[sel]), **extra)

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
