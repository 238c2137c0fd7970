"""GAN training: outputs, exact resume, dry run through the CLI, and DDP under torchrun."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from inpaintkit.cli import main
from inpaintkit.models import CheckpointError, load_gan, read_checkpoint
from inpaintkit.train_gan import GANTrainConfig, _batch_indices, train_gan


@pytest.fixture()
def tiny_npz(tmp_path: Path) -> str:
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.npz"
    np.savez(path, images=rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8),
             labels=np.arange(24) % 3)
    return f"npz:{path}"


def _cfg(data: str, iters: int) -> GANTrainConfig:
    return GANTrainConfig(data=data, arch="dcgan_test", iters=iters, batch_size=8, sample_every=2,
                          ckpt_every=2, log_every=1, seed=3)


def _assert_same_weights(a_path, b_path) -> None:
    a, b = read_checkpoint(a_path), read_checkpoint(b_path)
    for part in ("generator", "discriminator"):
        for k, v in a["state_dict"][part].items():
            assert torch.equal(v, b["state_dict"][part][k]), f"{part}.{k} differs after resume"


def test_batch_indices_cover_each_epoch_once_and_shard_disjointly():
    n, gb, world = 20, 8, 2
    seen = []
    for it in range(5):  # 40 samples = exactly two epochs
        parts = [_batch_indices(n, 0, it, gb, r, world) for r in range(world)]
        assert not set(parts[0]) & set(parts[1]) or it == 2  # iteration 2 straddles the epoch edge
        # the ranks' slices together are the global batch a single process would draw
        assert sorted(np.concatenate(parts)) == sorted(_batch_indices(n, 0, it, gb, 0, 1))
        seen.extend(np.concatenate(parts))
    assert sorted(seen[:20]) == list(range(20))
    assert sorted(seen[20:]) == list(range(20))


def test_train_writes_every_output(tiny_npz, tmp_path):
    out = tmp_path / "run"
    cfg = _cfg(tiny_npz, 4)
    cfg.snapshot_every = 2
    ckpt = train_gan(cfg, out, progress=False)
    for f in ("config.json", "meta.json", "checkpoint.pt", "losses.csv", "losses.png", "samples.png",
              "samples/iter_0000004.png", "snapshots/iter_0000002.pt", "snapshots/iter_0000004.pt"):
        assert (out / f).is_file(), f
    rows = list(csv.DictReader(open(out / "losses.csv")))
    assert [int(r["iter"]) for r in rows] == [1, 2, 3, 4]
    assert all(np.isfinite(float(r["loss_d"])) and np.isfinite(float(r["loss_g"])) for r in rows)
    g, d, meta = load_gan(ckpt)
    assert meta["arch"] == "dcgan_test" and meta["train_state"]["iteration"] == 4
    g_snap, _, _ = load_gan(out / "snapshots" / "iter_0000004.pt")  # fp16 storage, fp32 model
    assert g_snap.project.weight.dtype == torch.float32
    assert torch.allclose(g_snap.project.weight, g.project.weight, atol=1e-3)
    # Training changed the weights away from the initialisation.
    torch.manual_seed(3)
    from inpaintkit.models import create_model

    g0, _ = create_model("dcgan_test")
    assert not torch.equal(g0.project.weight, g.project.weight)


def test_refuses_to_overwrite_without_resume(tiny_npz, tmp_path):
    train_gan(_cfg(tiny_npz, 2), tmp_path / "run", progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train_gan(_cfg(tiny_npz, 2), tmp_path / "run", progress=False)


def test_resume_reproduces_the_uninterrupted_run(tiny_npz, tmp_path):
    straight = train_gan(_cfg(tiny_npz, 6), tmp_path / "a", progress=False)
    train_gan(_cfg(tiny_npz, 2), tmp_path / "b", progress=False)  # "killed" after iteration 2
    resumed = train_gan(_cfg(tiny_npz, 6), tmp_path / "b", resume=True, progress=False)
    _assert_same_weights(straight, resumed)
    rows = list(csv.DictReader(open(tmp_path / "b" / "losses.csv")))
    assert [int(r["iter"]) for r in rows] == list(range(1, 7))


def test_resume_rejects_another_architecture(tiny_npz, tmp_path):
    train_gan(_cfg(tiny_npz, 2), tmp_path / "run", progress=False)
    cfg = _cfg(tiny_npz, 4)
    cfg.arch = "dcgan_32"
    with pytest.raises(CheckpointError, match="dcgan_test"):
        train_gan(cfg, tmp_path / "run", resume=True, progress=False)


def test_cli_dry_run(tiny_npz, tmp_path):
    res = CliRunner().invoke(main, ["train-gan", "--data", tiny_npz, "--dry-run", "--out",
                                    str(tmp_path / "dry"), "--seed", "1"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "dry" / "checkpoint.pt").is_file()


def test_missing_dataset_is_a_clear_error(tmp_path):
    res = CliRunner().invoke(main, ["train-gan", "--data", f"npz:{tmp_path}/nope.npz", "--dry-run",
                                    "--out", str(tmp_path / "x")])
    assert res.exit_code != 0
    assert "nope.npz" in str(res.exception)


def test_torchrun_two_cpu_processes(tiny_npz, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "inpaintkit.cli", "train-gan", "--data", tiny_npz, "--arch", "dcgan_test",
           "--iters", "3", "--batch-size", "8", "--ckpt-every", "3", "--device", "cpu", "--out", str(out)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    ckpt = read_checkpoint(out / "checkpoint.pt")
    assert ckpt["meta"]["world_size"] == 2 and ckpt["train_state"]["iteration"] == 3
    # only rank 0 writes: a header and one logged row (iteration 3), not one per rank
    lines = (out / "losses.csv").read_text().strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("3,")


def test_resume_after_a_kill_between_checkpoints(tiny_npz, tmp_path, monkeypatch):
    # A real kill: the run dies during iteration 4, after the checkpoint of iteration 2 (and with
    # iteration 3 done but not saved). --resume must redo 3.. and end where the straight run does.
    import inpaintkit.train_gan as tg

    straight = train_gan(_cfg(tiny_npz, 6), tmp_path / "a", progress=False)
    real_step_generator = tg._step_generator

    def killed(seed, it, rank):
        if it == 3:
            raise KeyboardInterrupt("killed")
        return real_step_generator(seed, it, rank)

    monkeypatch.setattr(tg, "_step_generator", killed)
    with pytest.raises(KeyboardInterrupt):
        train_gan(_cfg(tiny_npz, 6), tmp_path / "b", progress=False)
    assert read_checkpoint(tmp_path / "b" / "checkpoint.pt")["train_state"]["iteration"] == 2
    monkeypatch.setattr(tg, "_step_generator", real_step_generator)
    resumed = train_gan(_cfg(tiny_npz, 6), tmp_path / "b", resume=True, progress=False)
    _assert_same_weights(straight, resumed)
    rows_a = list(csv.DictReader(open(tmp_path / "a" / "losses.csv")))
    rows_b = list(csv.DictReader(open(tmp_path / "b" / "losses.csv")))
    assert [int(r["iter"]) for r in rows_b] == list(range(1, 7))
    for ra, rb in zip(rows_a, rows_b):
        assert float(ra["loss_d"]) == pytest.approx(float(rb["loss_d"]), rel=1e-6)
        assert float(ra["loss_g"]) == pytest.approx(float(rb["loss_g"]), rel=1e-6)


def test_checkpoint_write_is_atomic(tiny_npz, tmp_path, monkeypatch):
    # A crash while writing checkpoint 4 leaves checkpoint 2 intact and no temporary file behind.
    out = tmp_path / "run"
    real_save = torch.save
    calls = []

    def crashing_save(obj, f, *args, **kwargs):
        calls.append(f)
        if len(calls) == 2:                       # the second checkpoint (iteration 4)
            Path(f).write_bytes(b"half a checkpoint")
            raise OSError("disk full")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="disk full"):
        train_gan(_cfg(tiny_npz, 4), out, progress=False)
    monkeypatch.setattr(torch, "save", real_save)
    assert read_checkpoint(out / "checkpoint.pt")["train_state"]["iteration"] == 2
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_run_records_config_versions_and_commit(tiny_npz, tmp_path):
    import json

    out = tmp_path / "run"
    train_gan(_cfg(tiny_npz, 2), out, progress=False)
    config = json.loads((out / "config.json").read_text())
    assert config["arch"] == "dcgan_test" and config["iters"] == 2 and config["lr"] == 2e-4
    assert config["beta1"] == 0.5 and config["flip"] is True
    assert config["model_config"]["nz"] == 16
    meta = json.loads((out / "meta.json").read_text())
    assert meta["versions"]["torch"] and meta["versions"]["numpy"] and meta["argv"]
    assert meta["config"]["data"] == tiny_npz
    if (Path(__file__).resolve().parents[1] / ".git").exists():  # a checkout: the commit is known
        assert isinstance(meta["git_commit"], str) and len(meta["git_commit"]) >= 40
