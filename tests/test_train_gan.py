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
    assert "nope.npz" in res.output and "Traceback" not in res.output


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


# --- EMA, DiffAugment, spectral norm, hinge loss ---------------------------------------------------

def _all_options(cfg: GANTrainConfig) -> GANTrainConfig:
    cfg.ema, cfg.diffaug, cfg.spectral_norm, cfg.gan_loss = 0.9, "color,translation,cutout", True, "hinge"
    return cfg


def test_resume_is_exact_with_every_option_on(tiny_npz, tmp_path):
    straight = train_gan(_all_options(_cfg(tiny_npz, 6)), tmp_path / "a", progress=False)
    train_gan(_all_options(_cfg(tiny_npz, 2)), tmp_path / "b", progress=False)
    resumed = train_gan(_all_options(_cfg(tiny_npz, 6)), tmp_path / "b", resume=True, progress=False)
    _assert_same_weights(straight, resumed)
    a, b = read_checkpoint(straight)["train_state"], read_checkpoint(resumed)["train_state"]
    for part in ("generator_raw", "discriminator_raw"):
        for k, v in a[part].items():
            assert torch.equal(v, b[part][k]), f"{part}.{k} differs after resume"


def test_each_option_changes_the_training(tiny_npz, tmp_path):
    base = read_checkpoint(train_gan(_cfg(tiny_npz, 3), tmp_path / "base", progress=False))
    for name, value in [("ema", 0.5), ("diffaug", "translation"), ("spectral_norm", True),
                        ("gan_loss", "hinge")]:
        cfg = _cfg(tiny_npz, 3)
        setattr(cfg, name, value)
        other = read_checkpoint(train_gan(cfg, tmp_path / name, progress=False))
        w0 = base["state_dict"]["generator"]["project.weight"]
        assert not torch.equal(w0, other["state_dict"]["generator"]["project.weight"]), name


def test_ema_generator_is_saved_and_raw_generator_kept_for_resume(tiny_npz, tmp_path):
    cfg = _cfg(tiny_npz, 4)
    cfg.ema, cfg.snapshot_every = 0.9, 4
    out = tmp_path / "run"
    ckpt = read_checkpoint(train_gan(cfg, out, progress=False))
    saved, raw = ckpt["state_dict"]["generator"], ckpt["train_state"]["generator_raw"]
    assert not torch.equal(saved["project.weight"], raw["project.weight"])
    for k in ("project_bn.running_mean", "project_bn.running_var"):  # buffers are copied
        assert torch.equal(saved[k], raw[k])
    snap = read_checkpoint(out / "snapshots" / "iter_0000004.pt")
    assert torch.allclose(snap["state_dict"]["generator"]["project.weight"].float(), saved["project.weight"],
                          atol=1e-3)
    import json

    assert json.loads((out / "config.json").read_text())["ema"] == 0.9


def test_ema_update_matches_its_formula():
    from inpaintkit.models import create_model
    from inpaintkit.train_gan import _update_ema

    torch.manual_seed(0)
    g, _ = create_model("dcgan_test")
    ema = __import__("copy").deepcopy(g)
    with torch.no_grad():
        for p in g.parameters():
            p.add_(1.0)
        g.project_bn.running_mean.fill_(0.25)
    before = ema.project.weight.clone()
    _update_ema(ema, g, 0.9, step=1000)             # warm-up bound 1001/1010 > 0.9: decay 0.9
    assert torch.allclose(ema.project.weight, 0.9 * before + 0.1 * g.project.weight)
    assert torch.equal(ema.project_bn.running_mean, g.project_bn.running_mean)
    ema2 = __import__("copy").deepcopy(g)
    with torch.no_grad():
        ema2.project.weight.zero_()
    _update_ema(ema2, g, 0.999, step=0)             # step 0: decay min(0.999, 1/10) = 0.1
    assert torch.allclose(ema2.project.weight, 0.9 * g.project.weight)


def test_spectral_norm_checkpoint_loads_as_a_plain_gan_and_feeds_the_losses(tiny_npz, tmp_path):
    from inpaintkit.models import Discriminator, apply_spectral_norm, fold_spectral_norm

    cfg = _cfg(tiny_npz, 3)
    cfg.spectral_norm = True
    path = train_gan(cfg, tmp_path / "sn", progress=False)
    g, d, ckpt = load_gan(path)
    assert type(d) is Discriminator
    # The folded discriminator scores like the normalised one in eval mode.
    sn_d = apply_spectral_norm(Discriminator(g.config))
    sn_d.load_state_dict(ckpt["train_state"]["discriminator_raw"])
    x = torch.rand(5, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(sn_d.eval()(x), d(x), atol=1e-5)
        assert torch.allclose(fold_spectral_norm(sn_d)(x), d(x), atol=1e-5)
        plain_w = Discriminator(g.config).state_dict()["body.0.weight"]
    assert d.body[0].weight.shape == plain_w.shape
    from inpaintkit.losses import InpaintLoss, PriorLoss

    z = (torch.rand(4, g.config.nz) * 2 - 1).requires_grad_(True)
    d_g = d(g(z))
    total = PriorLoss()(d_g=d_g) + InpaintLoss()(d_composite=d_g)
    assert total.shape == (4,) and torch.isfinite(total).all()
    total.sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_resume_with_another_option_value_is_refused(tiny_npz, tmp_path):
    train_gan(_cfg(tiny_npz, 2), tmp_path / "run", progress=False)
    for name, value in [("ema", 0.999), ("diffaug", "color"), ("spectral_norm", True), ("gan_loss", "hinge")]:
        cfg = _cfg(tiny_npz, 4)
        setattr(cfg, name, value)
        with pytest.raises(CheckpointError, match=name):
            train_gan(cfg, tmp_path / "run", resume=True, progress=False)


@pytest.mark.parametrize("field_value, match", [
    (("ema", 1.0), r"\[0, 1\)"), (("ema", -0.1), r"\[0, 1\)"),
    (("diffaug", "color,blur"), "known: color, translation, cutout"),
    (("gan_loss", "wgan"), "bce, hinge"),
])
def test_bad_option_values_are_clear_errors(tiny_npz, tmp_path, field_value, match):
    cfg = _cfg(tiny_npz, 2)
    setattr(cfg, *field_value)
    with pytest.raises(ValueError, match=match):
        train_gan(cfg, tmp_path / "run", progress=False)


def test_hinge_and_bce_losses_by_hand():
    from inpaintkit.train_gan import _d_loss, _g_loss

    l_real, l_fake = torch.tensor([2.0, 0.0]), torch.tensor([-2.0, 0.5])
    assert _d_loss("hinge", l_real, l_fake).item() == pytest.approx((0 + 1) / 2 + (0 + 1.5) / 2)
    assert _g_loss("hinge", l_fake).item() == pytest.approx(0.75)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    want = bce(l_real, torch.ones(2)) + bce(l_fake, torch.zeros(2))
    assert _d_loss("bce", l_real, l_fake).item() == pytest.approx(want.item(), rel=1e-6)
    assert _g_loss("bce", l_fake).item() == pytest.approx(bce(l_fake, torch.ones(2)).item(), rel=1e-6)


def test_cli_passes_the_new_options(tiny_npz, tmp_path):
    import json

    res = CliRunner().invoke(main, ["train-gan", "--data", tiny_npz, "--dry-run", "--out", str(tmp_path / "o"),
                                    "--ema", "0.99", "--diffaug", "cutout,color", "--spectral-norm",
                                    "--gan-loss", "hinge"])
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "o" / "config.json").read_text())
    assert (cfg["ema"], cfg["diffaug"], cfg["spectral_norm"], cfg["gan_loss"]) == (0.99, "cutout,color", True, "hinge")


def test_snapshots_are_scored_by_fd_r18_and_the_rows_survive_a_resume(tiny_npz, tmp_path):
    pytest.importorskip("torchmetrics")
    classifiers = pytest.importorskip("classifiers")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = classifiers.create_classifier("timm:test_resnet", 3, drop_stem_pool=True)
    clf = tmp_path / "evaluator.pt"
    classifiers.save_classifier(clf, model, "timm:test_resnet", {
        "num_classes": 3, "image_size": 32, "mean": [0.5] * 3, "std": [0.25] * 3,
        "model_kwargs": {"drop_stem_pool": True}})

    def cfg(iters):
        c = _cfg(tiny_npz, iters)
        c.snapshot_every, c.fd_data, c.fd_classifier, c.fd_n_real, c.fd_n = 2, tiny_npz, str(clf), 20, 16
        return c

    out = tmp_path / "run"
    train_gan(cfg(4), out, progress=False)
    with_fit = cfg(8)
    with_fit.fd_fit = 4  # turned on at a resume: only observes
    train_gan(with_fit, out, resume=True, progress=False)
    rows = list(csv.DictReader(open(out / "snapshots.csv")))
    assert [int(r["iter"]) for r in rows] == [2, 4, 6, 8]
    assert all(float(r["fd_r18"]) > 0 and int(r["n"]) == 16 and int(r["n_real"]) == 20 for r in rows)
    assert len({r["fd_r18"] for r in rows}) == 4  # each snapshot scored on its own weights
    assert [r["fit_n"] for r in rows] == ["", "", "4", "4"]
    assert all(np.isfinite(float(r["fit_psnr"])) for r in rows[2:])
    train_gan(cfg(10), out, resume=True, progress=False)  # reads the mixed rows back
    assert len(list(csv.DictReader(open(out / "snapshots.csv")))) == 5
    bad = cfg(2)
    bad.snapshot_every = 0
    with pytest.raises(ValueError, match="--snapshot-every"):
        train_gan(bad, tmp_path / "bad", progress=False)
    bad = cfg(2)
    bad.fd_fit = 21
    with pytest.raises(ValueError, match="--fd-fit 21"):
        train_gan(bad, tmp_path / "bad2", progress=False)


def test_config_file(tiny_npz, tmp_path):
    toml = tmp_path / "gan.toml"
    toml.write_text(f'data = "{tiny_npz}"\narch = "dcgan_test"\niters = 3\nbatch-size = 8\nsample-every = 3\n'
                    f'ckpt-every = 3\nseed = 2\nno-flip = true\n')
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["train-gan", "--config", str(toml), "--iters", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    import json

    config = json.loads((out / "config.json").read_text())
    assert (config["iters"], config["batch_size"], config["seed"], config["flip"]) == (2, 8, 2, False)
    assert (out / "config.toml").read_text() == toml.read_text()
