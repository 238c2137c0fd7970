"""The benchmark runner: dry run through the CLI, resume after a kill, error rows, masks, presets,
bad options, and the 2-process torchrun shard-and-merge."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from inpaintkit import bench as B
from inpaintkit.bench import read_rows
from inpaintkit.cli import main
from inpaintkit.losses import AutoWeight

ROOT = Path(__file__).resolve().parents[1]


def _cfg(out, **kw):
    base = dict(dry_run=True, out=str(out), n=4, iters=2, batch_size=2, masks=("center",),
                baselines=("yeh", "biharmonic"), losses=("context,prior,sem,cat",), progress=False,
                report=False)
    base.update(kw)
    return B.BenchConfig(**base)


def _weights(spec):
    from inpaintkit.losses import parse_loss_spec

    return {e.name: e.weight for e in parse_loss_spec(spec)}


def _keys(rows):
    return [(r["image_id"], r["method"], r["mask"]) for r in rows]


# --- end to end -------------------------------------------------------------------------------------

def test_dry_run_through_the_cli(tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, [
        "bench", "--dry-run", "--losses", "context,prior,sem,cat", "--baselines", "yeh,biharmonic",
        "--masks", "center,random:0.7", "--n", "3", "--iters", "2", "--out", str(out),
        "--no-progress", "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert "Dry run" in res.output
    assert "| mask | metric | yeh | biharmonic | context,prior,sem,cat |" in res.output
    # the output ends by reading the table and pointing at the pictures
    tail = res.output.strip().splitlines()[-4:]
    assert tail[0].startswith("Reading: hole PSNR best:") and tail[1].startswith("results:")
    assert [Path(t.removeprefix("grid: ")).name[:11] for t in tail[2:]] == ["grid_center", "grid_random"]
    assert all(Path(t.removeprefix("grid: ")).is_file() for t in tail[2:])
    rows = read_rows(out)
    assert len(rows) == 3 * 3 * 2 and len(set(_keys(rows))) == len(rows)
    assert all(r["error"] == "" for r in rows)
    for r in rows:
        for m in ("psnr", "ssim", "psnr_hole", "ssim_hole", "psnr_overlay", "ssim_hole_overlay"):
            assert np.isfinite(r[m])
        assert r["seconds"] > 0
        assert r["seed"] == 3
    search = [r for r in rows if r["method_kind"] == "search"]
    # every search row records all its final loss terms and the scored output
    assert all("loss_context" in r and "loss_total" in r and r["scored"] == "poisson" for r in search)
    assert all(r["loss_spec"] for r in search)
    sem = [r for r in search if r["method"] == "context,prior,sem,cat" and r["mask"] == "random:0.7"]
    assert _weights(sem[0]["loss_spec"]) == {"context": 1, "prior": 0.003, "sem": 8, "cat": 0.4}
    # the weights actually used, per image, and how much of z sat on the clip
    assert all(r["w_sem"] == 8 and r["w_cat"] == pytest.approx(0.4) and 0 <= r["z_clip"] <= 1 for r in sem)
    base = [r for r in rows if r["method"] == "biharmonic"]
    assert all(r["psnr"] == r["psnr_overlay"] and r["scored"] == "baseline" for r in base)
    # semantic accuracy columns (the dry run has a random independent evaluator and labels)
    assert all(isinstance(r["eval_correct"], bool) for r in rows)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "complete" and meta["config"]["seed"] == 3 and meta["argv"]
    assert {p.name for p in (out / "report").iterdir()} >= {"table.md", "table.csv", "table.tex",
                                                             "psnr_distribution.png"}
    assert list((out / "report").glob("grid_center*.png"))
    assert list((out / "report").glob("loss_curves_center*.png"))
    assert (out / "rows.csv").is_file()
    # the saved histories hold every term of the search, summed over the batch
    h = [r["history_file"] for r in search if r["method"] == "yeh"][0]
    with np.load(out / h) as z:
        assert z["sum__context"].shape == (2,) and int(z["count__total"][0]) in (1, 2)


def test_masks_are_identical_across_methods(tmp_path):
    rows = B.run_bench(_cfg(tmp_path / "r", masks=("random:0.5",)), echo=None).rows
    by_image = {}
    for r in rows:
        by_image.setdefault(r["image_id"], set()).add(r["hole_fraction"])
    assert all(len(v) == 1 for v in by_image.values())
    # and they are the ones image_masks gives for that seed and id
    m, source = B.image_masks("random:0.5", [0, 1, 2, 3], (32, 32), seed=0)
    assert source == "seeded"
    assert [1 - m[i].mean() for i in range(4)] == [by_image[i].pop() for i in range(4)]


def test_image_masks_from_data_and_mask_file():
    rng = np.random.default_rng(0)
    data_masks = rng.random((5, 16, 16)) >= 0.7
    m, src = B.image_masks("random:0.7", [3, 1], (16, 16), 0, data_masks=data_masks)
    assert src == "data:random_masks" and np.array_equal(m, data_masks[[3, 1]])
    # another drop rate than the data's is generated, not silently replaced
    _, src = B.image_masks("random:0.3", [3, 1], (16, 16), 0, data_masks=data_masks)
    assert src == "seeded"
    center = np.ones((16, 16), bool)
    center[4:12, 4:12] = False
    m, src = B.image_masks("center", [0, 2], (16, 16), 0, mask_file={"center": center})
    assert src == "file:center" and np.array_equal(m[1], center)
    with pytest.raises(B.BenchError, match="16x16"):
        B.image_masks("center", [0], (32, 32), 0, mask_file={"center": center})
    # seeded masks depend on the image id, not on the batch they are drawn in
    a, _ = B.image_masks("random:0.7", [0, 1, 2], (16, 16), 7)
    b, _ = B.image_masks("random:0.7", [2], (16, 16), 7)
    assert np.array_equal(a[2], b[0]) and not np.array_equal(a[0], a[1])


def test_npz_data_masks_and_mask_file_are_used(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "val.npz", images=images, labels=np.arange(5) % 3,
             random_masks=rng.random((5, 32, 32)) >= 0.7)
    left = np.ones((32, 32), bool)
    left[:, :16] = False
    np.savez(tmp_path / "masks.npz", left=left)
    cfg = _cfg(tmp_path / "r", data=f"npz:{tmp_path / 'val.npz'}", masks=("left", "random:0.7"),
               mask_file=str(tmp_path / "masks.npz"), losses=(), baselines=("yeh",), n=2)
    rows = B.run_bench(cfg, echo=None).rows
    src = {r["mask"]: r["mask_source"] for r in rows}
    assert src == {"left": "file:left", "random:0.7": "data:random_masks"}


def test_dry_run_rows_match_the_committed_ones(tmp_path):
    """``bench --dry-run --seed 3`` gives the rows recorded in tests/expected at commit b6ce474, before
    the driving layer was split into packages: the same columns, config hashes (so earlier runs
    still resume), masks, seeds and, up to float noise across machines, the same numbers. A change
    that means to alter the dry run's rows must re-record the file, and say why in its commit."""
    res = CliRunner().invoke(main, ["bench", "--dry-run", "--seed", "3", "--device", "cpu",
                                    "--no-progress", "--no-report", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    expected = [json.loads(line) for line in
                (ROOT / "tests" / "expected" / "bench_dry_run_rows.jsonl").read_text().splitlines()]
    key = lambda r: (r["method"], r["mask"], r["image_id"])  # noqa: E731
    got = sorted(read_rows(tmp_path / "r"), key=key)
    expected = sorted(expected, key=key)
    assert [key(r) for r in got] == [key(r) for r in expected]
    for g, e in zip(got, expected):
        g = {k: v for k, v in g.items() if k != "seconds"}
        assert sorted(g) == sorted(e), key(e)
        for k, v in e.items():
            if isinstance(v, float):
                assert g[k] == pytest.approx(v, rel=1e-4, abs=1e-5), (key(e), k)
            else:
                assert g[k] == v, (key(e), k)


# --- results are never lost -------------------------------------------------------------------------

class _Kill(BaseException):
    """Stands in for SIGKILL/Ctrl-C: not an Exception, so the sweep does not catch it."""


def test_resume_after_a_kill_gives_every_row_once(tmp_path):
    out = tmp_path / "r"
    cfg = _cfg(out, masks=("center", "random:0.7"))

    def kill_after_3(info):
        if info.batches_done == 3:
            raise _Kill

    with pytest.raises(_Kill):
        B.run_bench(cfg, echo=None, on_batch=kill_after_3)
    assert len(read_rows(out)) == 3 * 2  # three batches of two images were on disk
    res = B.run_bench(cfg, echo=None)
    rows = read_rows(out)
    keys = _keys(rows)
    assert len(keys) == len(set(keys)) == 4 * 3 * 2
    assert res.new_rows == 4 * 3 * 2 - 6
    # a third run has nothing left to do
    assert B.run_bench(cfg, echo=None).new_rows == 0
    # and the resumed results equal those of an uninterrupted run (seeds are per image)
    fresh = {(r["image_id"], r["method"], r["mask"]): r for r in
             B.run_bench(_cfg(tmp_path / "fresh", masks=("center", "random:0.7")), echo=None).rows}
    for r in rows:
        f = fresh[(r["image_id"], r["method"], r["mask"])]
        assert r["psnr"] == pytest.approx(f["psnr"], abs=1e-6)
        assert r["ssim_hole"] == pytest.approx(f["ssim_hole"], abs=1e-6)


def test_rerun_with_another_config_refuses_to_mix(tmp_path):
    B.run_bench(_cfg(tmp_path / "r", n=2), echo=None)
    with pytest.raises(B.BenchError, match=r"iters: 2 -> 3"):
        B.run_bench(_cfg(tmp_path / "r", n=2, iters=3), echo=None)
    # more images or another mask extend the run
    res = B.run_bench(_cfg(tmp_path / "r", n=3), echo=None)
    assert res.new_rows == 3 and len(res.rows) == 9


def test_restart_reduce_mean_is_its_own_configuration(tmp_path):
    best = B.run_bench(_cfg(tmp_path / "r", n=2, restarts=2, baselines=("yeh",), losses=()), echo=None)
    assert all("restart_reduce" not in r for r in best.rows)  # older runs keep their config hashes
    with pytest.raises(B.BenchError, match=r"restart_reduce: None -> 'mean'"):
        B.run_bench(_cfg(tmp_path / "r", n=2, restarts=2, baselines=("yeh",), losses=(),
                         restart_reduce="mean"), echo=None)
    mean = B.run_bench(_cfg(tmp_path / "m", n=2, restarts=2, baselines=("yeh",), losses=(),
                            restart_reduce="mean"), echo=None)
    assert [r["restart_reduce"] for r in mean.rows] == ["mean", "mean"]
    assert [r["psnr"] for r in mean.rows] != [r["psnr"] for r in best.rows]


def test_a_failing_method_becomes_error_rows_and_the_sweep_goes_on(tmp_path):
    from inpaintkit.baselines import BASELINES, register_baseline

    @register_baseline("_test_boom")
    def boom(y, mask):
        """Always fails."""
        raise RuntimeError("solver diverged")

    @register_baseline("_test_flaky")
    def flaky(y, mask):
        """Fails on batches of more than one image (an image-specific failure stands in)."""
        if y.shape[0] > 1:
            raise RuntimeError("batch too big")
        return torch.where(mask.bool().expand_as(y), y, torch.zeros_like(y))

    try:
        cfg = _cfg(tmp_path / "r", baselines=("_test_boom", "_test_flaky", "yeh"), losses=(),
                   report=True)
        rows = B.run_bench(cfg, echo=None).rows
    finally:
        BASELINES.unregister("_test_boom")
        BASELINES.unregister("_test_flaky")
    boom_rows = [r for r in rows if r["method"] == "_test_boom"]
    assert len(boom_rows) == 4 and all("RuntimeError: solver diverged" in r["error"] for r in boom_rows)
    # a failing batch is retried image by image
    assert all(r["error"] == "" for r in rows if r["method"] == "_test_flaky")
    assert all(r["error"] == "" for r in rows if r["method"] == "yeh")
    md = (tmp_path / "r" / "report" / "table.md").read_text()
    assert "4 (image, method, mask) rows failed" in md and "_test_boom: 4" in md


# --- options ------------------------------------------------------------------------------------------

def test_paper_preset_and_explicit_overrides():
    rb = B.resolve_config(B.BenchConfig(preset="paper-table1"))
    c = rb.config
    assert (c.optimizer, c.iters, c.lr, c.masks) == ("nesterov", 1500, 0.01, ("center", "left", "random:0.7"))
    assert [m.label for m in rb.methods] == ["im", "ce", "yeh", "w/o logits", "with logits"]
    assert [m.losses for m in rb.methods] == [
        None, None, "context,prior", "context,prior,inpaint,sem=auto:0.3",
        "context,prior,inpaint,sem=auto:0.3,cat=auto:0.3"]
    with_logits = rb.methods[4]
    assert _weights(with_logits.loss_spec("center")) == {
        "context": 1, "prior": 0.003, "inpaint": 3, "sem": AutoWeight(0.3), "cat": AutoWeight(0.3)}
    assert _weights(with_logits.loss_spec("random:0.7"))["inpaint"] == 30
    # the ETH weights, uncalibrated, for the record
    rb = B.resolve_config(B.BenchConfig(preset="paper-table1-eth"))
    assert [m.label for m in rb.methods] == ["im", "ce", "yeh", "w/o logits", "with logits"]
    assert _weights(rb.methods[4].loss_spec("center")) == {
        "context": 1, "prior": 0.003, "inpaint": 3, "sem": 1e5, "cat": 1e6}
    assert _weights(rb.methods[4].loss_spec("random:0.7")) == {
        "context": 1, "prior": 0.003, "inpaint": 30, "sem": 1e6, "cat": 1e7}
    rb = B.resolve_config(B.BenchConfig(preset="paper-table1"))
    # yeh's monitored terms are recorded with weight 0, never optimised
    assert _weights(rb.methods[2].loss_spec("center", c.monitor)) == {
        "context": 1, "prior": 0.003, "inpaint": 0, "sem": 0, "cat": 0}
    rb = B.resolve_config(B.BenchConfig(preset="paper-table1", iters=10, masks=("center",),
                                        optimizer="adam"))
    assert (rb.config.iters, rb.config.masks, rb.config.optimizer) == (10, ("center",), "adam")


def test_best_and_fast_presets():
    from inpaintkit.bench.assets import with_model_paths

    rb = B.resolve_config(B.BenchConfig(preset="best", data="npz:x.npz", gan="g.pt"))
    c = rb.config
    assert (c.optimizer, c.iters, c.lr, c.restarts, c.restart_reduce, c.blend) == (
        "adam", 100, 0.03, 4, "mean", "poisson")
    assert [(m.name, m.label) for m in rb.methods] == [
        ("im", "im"), ("telea", "telea"), ("biharmonic", "biharmonic"), ("ce", "ce"),
        ("context,prior,sem[known]=auto:1", "best")]
    assert rb.needs_classifier
    # without a classifier the error names the classifier-free preset
    with pytest.raises(B.BenchError, match="--classifier.*--preset fast"):
        with_model_paths(rb)
    rb = B.resolve_config(B.BenchConfig(preset="fast", data="npz:x.npz", gan="g.pt"))
    c = rb.config
    assert (c.optimizer, c.iters, c.lr, c.restarts, c.restart_reduce, c.blend) == (
        "adam", 100, 0.03, 4, "mean", "poisson")
    assert [(m.name, m.label) for m in rb.methods][-1] == ("context,prior", "fast")
    assert not rb.needs_classifier


def test_default_batch_is_cpu_aware():
    from inpaintkit.utils import CPU_FEATURE_BATCH, DEFAULT_BATCH

    def batch(**kw):
        return B.resolve_config(B.BenchConfig(data="npz:x.npz", device="cpu", **kw)).config.batch_size

    # a search that runs the classifier: the small batch that is faster on CPUs
    assert batch(losses=("context,prior,sem",)) == CPU_FEATURE_BATCH == 8
    assert batch(losses=("context,prior",), monitor=("all",)) == 8  # monitored terms run it too
    # no classifier: the large batch
    assert batch(losses=("context,prior",)) == DEFAULT_BATCH == 64
    assert batch(baselines=("tv",)) == 64
    # an explicit value or a preset's wins
    assert batch(losses=("context,prior,sem",), batch_size=32) == 32
    assert B.resolve_config(B.BenchConfig(losses=("context,prior,sem,cat",))).config.batch_size == 32  # demo
    with pytest.raises(B.BenchError, match="batch-size"):
        batch(losses=("context,prior",), batch_size=0)


def test_default_methods_and_demo_mode():
    rb = B.resolve_config(B.BenchConfig(losses=("context,prior,sem,cat",)))
    assert rb.mode == "demo" and [m.name for m in rb.methods] == ["im", "ce", "yeh", "context,prior,sem,cat"]
    assert rb.config.n == 32 and rb.config.data == "synthetic-cars"
    rb = B.resolve_config(B.BenchConfig(baselines=("tv",), data="npz:x.npz"))
    assert rb.mode == "custom" and [m.name for m in rb.methods] == ["tv"] and not rb.needs_gan
    rb = B.resolve_config(B.BenchConfig(losses=("context, prior",), data="npz:x.npz"))
    assert [m.name for m in rb.methods] == ["im", "yeh"]  # the same loss set as yeh runs once
    assert any("already runs" in n for n in rb.notes)


def test_missing_bundled_model_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINTKIT_ASSETS", str(tmp_path / "assets"))
    with pytest.raises(B.BenchError, match="synthetic-cars-gan.pt"):
        B.run_bench(B.BenchConfig(losses=("context,prior",), baselines=("yeh",), out=str(tmp_path / "o"),
                                  progress=False), echo=None)


@pytest.mark.parametrize("opts, match", [
    (dict(baselines=("magic",)), "unknown baseline 'magic'; known baselines: yeh, "),
    (dict(masks=("hexagon",)), "bad mask 'hexagon'"),
    (dict(losses=("context,style",)), "unknown loss 'style'"),
    (dict(preset="paper-table9"), "known presets: best, fast, paper-table1"),
    (dict(optimizer="lbfgs"), "adam or nesterov"),
    (dict(precision="fp8"), "auto, fp32, bf16"),
    (dict(blend="alpha"), "unknown blend 'alpha'"),
    (dict(restart_reduce="median"), "unknown --restart-reduce 'median'"),
    (dict(n=0), "--n must be a positive integer"),
    (dict(monitor=("sharpness",)), "unknown loss term"),
    (dict(losses=(), baselines=()), "nothing to run"),
])
def test_bad_options_are_rejected_before_any_work(tmp_path, opts, match):
    with pytest.raises(B.BenchError, match=match):
        B.run_bench(_cfg(tmp_path / "r", **opts), echo=None)
    assert not (tmp_path / "r" / "rows.jsonl").exists()


def test_n_larger_than_the_data(tmp_path):
    with pytest.raises(B.BenchError, match="--n 9 but the test split of .* has only 4 images"):
        B.run_bench(_cfg(tmp_path / "r", data="synthetic-cars:4", n=9), echo=None)


def test_start_selects_later_images(tmp_path):
    B.run_bench(_cfg(tmp_path / "r", data="synthetic-cars:6", start=3, n=2, baselines=("biharmonic",),
                     losses=()), echo=None)
    assert sorted({r["image_id"] for r in read_rows(tmp_path / "r")}) == [3, 4]
    with pytest.raises(B.BenchError, match="--n 4 but .* only 6 images, 3 from --start 3"):
        B.run_bench(_cfg(tmp_path / "s", data="synthetic-cars:6", start=3, n=4), echo=None)
    with pytest.raises(B.BenchError, match="--start 6 but"):
        B.run_bench(_cfg(tmp_path / "t", data="synthetic-cars:6", start=6, n=1), echo=None)


def test_checkpoint_for_another_image_size(tmp_path, tiny_checkpoint):
    # tiny_checkpoint is a 32x32 dcgan_test; synthetic-cars renders 64x64 by default
    cfg = B.BenchConfig(data="synthetic-cars:4", gan=str(tiny_checkpoint), baselines=("yeh",),
                        losses=(), n=2, iters=1, out=str(tmp_path / "r"), progress=False)
    with pytest.raises(B.BenchError, match="32x32.*64x64"):
        B.run_bench(cfg, echo=None)


def test_gan_required_with_custom_data(tmp_path):
    cfg = B.BenchConfig(data=f"npz:{tmp_path / 'val.npz'}", baselines=("yeh",), losses=(), n=2,
                        out=str(tmp_path / "r"), progress=False)
    with pytest.raises(B.BenchError, match="--gan CKPT is required"):
        B.run_bench(cfg, echo=None)


def test_cli_bad_option_exits_with_usage_error(tmp_path):
    res = CliRunner().invoke(main, ["bench", "--dry-run", "--baselines", "magic", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "unknown baseline 'magic'" in res.output


# --- torchrun ------------------------------------------------------------------------------------------

def test_torchrun_two_processes_shard_and_merge(tmp_path):
    out = tmp_path / "dist"
    args = ["bench", "--dry-run", "--losses", "context,prior", "--baselines", "biharmonic",
            "--masks", "center", "-n", "5", "--iters", "2", "--batch-size", "2", "--no-progress",
            "--out", str(out)]
    # (-n, not --n: torchrun's own parser would take --n for an ambiguous abbreviation)
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "inpaintkit.cli", *args]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = read_rows(out)
    keys = _keys(rows)
    assert len(keys) == len(set(keys)) == 5 * 2
    assert {r["rank"] for r in rows} == {0, 1}
    assert {r["image_id"] for r in rows if r["rank"] == 1} == {1, 3}
    assert not list(out.glob("rows.rank*.jsonl"))  # merged by rank 0
    assert (out / "report" / "table.md").is_file()
    assert proc.stdout.count("## Inpainting benchmark") == 1  # only rank 0 prints the table
    assert "(10 rows, 10 new)" in proc.stdout
    # the shards give the same numbers as one process (per-image seeds and masks)
    single = {tuple(k): r for k, r in zip(_keys(rows), rows)}
    res = CliRunner().invoke(main, [*args[:-1], str(tmp_path / "one")])
    assert res.exit_code == 0, res.output
    for r in read_rows(tmp_path / "one"):
        assert r["psnr"] == pytest.approx(single[(r["image_id"], r["method"], r["mask"])]["psnr"], abs=1e-6)


# --- common random numbers --------------------------------------------------------------------------

def test_methods_on_an_image_share_their_starting_latents(tmp_path, monkeypatch):
    import inpaintkit.search as S

    seen: dict[tuple[str, int], torch.Tensor] = {}
    real = S.latent_search

    def spy(g, d, y, mask, loss, config=None, **kw):
        for row, z in enumerate(kw["z_init"]):
            seen[(loss.spec, row)] = z.clone()
        return real(g, d, y, mask, loss, config, **kw)

    monkeypatch.setattr(S, "latent_search", spy)
    cfg = B.BenchConfig(dry_run=True, losses=("context,prior", "context,prior,sem=auto:1"),
                        baselines=("none",), masks=("center",), n=2, iters=1, restarts=2,
                        out=str(tmp_path / "run"), progress=False, report=False)
    B.run_bench(cfg, echo=None)
    specs = sorted({k[0] for k in seen})
    assert len(specs) == 2 and len(seen) == 4
    for row in range(2):
        a, b = seen[(specs[0], row)], seen[(specs[1], row)]
        assert a.shape == (2, 16) and torch.equal(a, b)  # same z0 for both methods, both restarts
        assert not torch.equal(a[0], a[1])  # restarts differ
    assert not torch.equal(seen[(specs[0], 0)], seen[(specs[0], 1)])  # images differ
    # restart 0 does not depend on how many restarts are drawn
    assert B.search_seed(0, "center", 5, 0) != B.search_seed(0, "center", 5, 1)
    rows = read_rows(tmp_path / "run")
    assert {r["seeding"] for r in rows} == {B.SEEDING}


def test_rows_seeded_per_method_are_not_resumed_into(tmp_path):
    from inpaintkit.bench.rundir import check_resume

    old = {"config_hash": "old", "loss_spec": "context=1,prior=0.003"}  # no seeding column
    cols = {"config_hash": "new", "loss_spec": "context=1,prior=0.003", "seeding": B.SEEDING}
    with pytest.raises(B.BenchError, match=r"seeding: None -> 'crn'"):
        check_resume({("k", "context,prior", "center"): old}, ("k", "context,prior", "center"),
                     cols, tmp_path)


def test_lama_masks_and_a_folder_of_per_image_masks_with_hole_polarity(tmp_path):
    from PIL import Image

    folder = tmp_path / "my_masks"
    folder.mkdir()
    holes = []
    for i in range(3):  # white = hole (LaMa's convention), one mask per image, named by index
        hole = np.zeros((32, 32), bool)
        hole[2 + 3 * i: 14 + 3 * i, 4: 20 + i] = True
        holes.append(hole)
        Image.fromarray(hole.astype(np.uint8) * 255).save(folder / f"{i:06d}.png")
    res = CliRunner().invoke(main, ["bench", "--dry-run", "--n", "3", "--iters", "1", "--masks", "thick",
                                    "--mask-polarity", "hole", "--mask-file", str(folder),
                                    "--baselines", "biharmonic", "--no-progress", "--no-report",
                                    "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    rows = read_rows(tmp_path / "run")
    assert sorted({r["mask"] for r in rows}) == ["file:my_masks", "thick"]
    for r in rows:
        if r["mask"] == "file:my_masks":
            assert r["mask_source"] == "file:my_masks" and r["mask_polarity"] == "hole"
            assert r["hole_fraction"] == pytest.approx(holes[r["image_id"]].mean())
    res = CliRunner().invoke(main, ["bench", "--dry-run", "--n", "3", "--masks", "file:other",
                                    "--mask-file", str(folder), "--baselines", "biharmonic",
                                    "--no-progress", "--out", str(tmp_path / "run2")])
    assert res.exit_code != 0 and "no such set" in res.output


def test_config_file_gives_the_defaults_and_is_copied(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('dry-run = true\nn = 2\niters = 1\nmasks = "center"\nbaselines = ["yeh", "biharmonic"]\n'
                    'no_progress = true\nno-report = true\nseed = 3\n')
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["bench", "--config", str(toml), "--seed", "4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "meta.json").read_text())["config"]
    assert (meta["n"], meta["iters"], meta["masks"], meta["baselines"]) == (2, 1, ["center"], ["yeh", "biharmonic"])
    assert meta["seed"] == 4  # the command line wins over the file
    assert (out / "config.toml").read_text() == toml.read_text()
    assert {r["method"] for r in read_rows(out)} == {"yeh", "biharmonic"}
    toml.write_text("itres = 3\n")
    res = CliRunner().invoke(main, ["bench", "--config", str(toml), "--out", str(tmp_path / "x")])
    assert res.exit_code != 0 and "unknown key(s) itres" in res.output
    toml.write_text("iters = [\n")
    res = CliRunner().invoke(main, ["bench", "--config", str(toml), "--out", str(tmp_path / "x")])
    assert res.exit_code != 0 and "not valid TOML" in res.output and not (tmp_path / "x").exists()


def test_lpips_without_its_weights_is_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    res = CliRunner().invoke(main, ["bench", "--dry-run", "--lpips", "--baselines", "biharmonic",
                                    "--no-progress", "--out", str(tmp_path / "run")])
    assert res.exit_code != 0 and "--lpips" in res.output and "never downloads" in res.output
    assert not (tmp_path / "run").exists()


def test_lpips_columns_when_available(tmp_path, monkeypatch):
    from inpaintkit import metrics as M

    calls = []
    monkeypatch.setattr(M, "check_lpips", lambda net="alex": None)
    monkeypatch.setattr(M, "lpips", lambda out, x, net="alex": calls.append(len(out)) or np.full(len(out), 0.25))
    B.run_bench(_cfg(tmp_path / "r", n=2, lpips=True, baselines=("biharmonic",), losses=()), echo=None)
    rows = read_rows(tmp_path / "r")
    assert calls and all(r["lpips"] == 0.25 and r["lpips_overlay"] == 0.25 for r in rows)


def test_per_image_seed_is_bench_rule():
    """The one seed rule keeps bench's hash (its committed rows stay reproducible)."""
    import hashlib

    from inpaintkit.utils import per_image_seed, starting_latents

    def sha(*parts):
        return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "little") & 0x7FFFFFFF

    assert per_image_seed("mask", 3, "random:0.7", 5) == B.mask_seed(3, "random:0.7", 5) \
        == sha("mask", 3, "random:0.7", 5)
    assert per_image_seed("search", 3, "center", 5, 1) == B.search_seed(3, "center", 5, 1) \
        == sha("search", "crn", 3, "center", 5, 1)
    z = starting_latents(3, "center", [5, 7], 2, 4)
    assert z.shape == (2, 2, 4)
    ref = torch.rand(4, generator=torch.Generator().manual_seed(B.search_seed(3, "center", 7, 1))) * 2 - 1
    assert torch.equal(z[1, 1], ref)
