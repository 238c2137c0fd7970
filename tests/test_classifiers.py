"""Tests for the ``classifiers`` package: models, checkpoints, feature networks, training, CLI."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import classifiers as C
from classifiers import augment as A
from classifiers.train import TrainConfig, dataset_mean_std, lr_at
from inpaintkit.data import DatasetError
from inpaintkit.models import CheckpointError
from inpaintkit.utils import to_unit

K = 4  # classes in the fixture data
SIZE = 32


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Training seeds the global RNGs and may set threads; keep that from leaking into other tests."""
    py, npy, threads = random.getstate(), np.random.get_state(), torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        yield
    random.setstate(py)
    np.random.set_state(npy)
    torch.set_num_threads(threads)


def _write_npz(path: Path, n: int = 64, labels: bool = True, seed: int = 0, size: int = SIZE) -> str:
    """An easy K-class problem: class k brightens colour channel k % 3 (k // 3 sets how much)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % K
    img = rng.integers(0, 70, (n, size, size, 3))
    for i in range(n):
        img[i, :, :, y[i] % 3] += 110 + 60 * (y[i] // 3)
    arrays = {"images": img.clip(0, 255).astype(np.uint8)}
    if labels:
        arrays.update(labels=y.astype(np.int16), class_names=np.array([f"class {k}" for k in range(K)]))
    np.savez(path, **arrays)
    return f"npz:{path}"


@pytest.fixture()
def data(tmp_path: Path) -> tuple[str, str]:
    return _write_npz(tmp_path / "train.npz", 64, seed=0), _write_npz(tmp_path / "val.npz", 32, seed=1)


# tiny, fast settings shared by the training tests
TINY = dict(arch="googlenet_tiny", model_kwargs={"width": 0.125}, batch_size=16, epochs=2, threads=1,
            eval_batch_size=64)


# --- models ----------------------------------------------------------------------------------------------

def test_googlenet_follows_the_eth_recipe():
    torch.manual_seed(0)
    m = C.create_classifier("googlenet", 196)
    assert isinstance(m.maxpool1, torch.nn.Identity) and isinstance(m.maxpool2, torch.nn.Identity)
    for aux, cin in ((m.aux1, 512), (m.aux2, 528)):
        assert aux.conv.conv.in_channels == cin
        assert (aux.fc1.in_features, aux.fc1.out_features) == (2048, 512)
        assert (aux.fc2.in_features, aux.fc2.out_features) == (512, 196)
        assert aux.dropout.p == pytest.approx(0.3)
    assert m.dropout.p == pytest.approx(0.3) and m.fc.out_features == 196
    m.train()
    x = torch.randn(2, 3, 64, 64)
    logits, aux = m.forward_train(x)
    assert logits.shape == (2, 196) and [a.shape for a in aux] == [(2, 196), (2, 196)]
    m.eval()
    logits, aux, feats = m.run(x, ("inception3b", "inception4b", "inception5b"))
    assert aux == []
    # maxpools 1-2 removed: 64 -> 32 (conv1 stride 2) for inception3, 16 for 4, 8 for 5
    assert feats["inception3b"].shape == (2, 480, 32, 32)
    assert feats["inception4b"].shape == (2, 512, 16, 16)
    assert feats["inception5b"].shape == (2, 1024, 8, 8)


def test_googlenet_trunk_has_torchvision_names_and_shapes():
    from torchvision.models import googlenet

    tv = googlenet(weights=None, aux_logits=True, init_weights=False).state_dict()
    ours = C.create_classifier("googlenet", 10, init_weights=False).state_dict()
    trunk = {k for k in tv if k.startswith(("conv", "inception"))}
    assert trunk == {k for k in ours if k.startswith(("conv", "inception"))}
    assert all(tv[k].shape == ours[k].shape for k in trunk)


def test_pretrained_state_dict_loads_and_freezes_4a_to_4c(tmp_path):
    from torchvision.models import googlenet

    torch.manual_seed(0)
    tv = googlenet(weights=None, aux_logits=True, init_weights=False, num_classes=1000)
    path = tmp_path / "googlenet-imagenet.pth"
    torch.save(tv.state_dict(), path)
    m = C.create_classifier("googlenet", 7, pretrained=path)
    sd, ref = m.state_dict(), tv.state_dict()
    for k in ("conv1.conv.weight", "inception3a.branch1.conv.weight", "inception5b.branch4.1.bn.running_var"):
        assert torch.equal(sd[k], ref[k])
    assert m.fc.out_features == 7 and m.aux1.fc2.out_features == 7  # heads re-initialised for K
    frozen = {"inception4a", "inception4b", "inception4c"}
    for name, p in m.named_parameters():
        assert p.requires_grad == (name.split(".")[0] not in frozen), name
    m.train()
    assert not m.inception4b.training and m.inception4d.training  # frozen BN statistics stay fixed
    bad = tmp_path / "other.pth"
    torch.save({"conv1.conv.weight": torch.zeros(3, 3, 3, 3)}, bad)
    with pytest.raises(ValueError, match="not GoogLeNet trunk weights"):
        C.create_classifier("googlenet", 7, pretrained=bad)
    with pytest.raises(FileNotFoundError):
        C.create_classifier("googlenet", 7, pretrained=tmp_path / "missing.pth")


def test_unknown_architectures_list_the_known_ones():
    with pytest.raises(KeyError, match="googlenet"):
        C.create_classifier("inception_v9", 10)
    with pytest.raises(KeyError, match="unknown timm model"):
        C.create_classifier("timm:no_such_net", 10)
    with pytest.raises(ValueError, match="at least 2 classes"):
        C.create_classifier("googlenet_tiny", 1)


def test_timm_stages_from_hooks_match_forward_intermediates():
    torch.manual_seed(0)
    m = C.create_classifier("timm:test_resnet", 5).eval()
    names = m.feature_layer_names()
    assert names == tuple(d["module"] for d in m.model.feature_info)
    x = torch.randn(2, 3, 32, 32)
    logits, _, feats = m.run(x, names)
    final, inter = m.model.forward_intermediates(x)
    for name, ref in zip(names, inter):
        torch.testing.assert_close(feats[name], ref)
    torch.testing.assert_close(logits, m.model.forward_head(final))
    assert m.feature_channels() == {n: t.shape[1] for n, t in zip(names, inter)}


def test_drop_stem_pool_halves_downsampling():
    m = C.create_classifier("timm:test_resnet", 5, drop_stem_pool=True).eval()
    _, _, f = m.run(torch.randn(1, 3, 32, 32), ("layer1",))
    assert f["layer1"].shape[-1] == 16
    with pytest.raises(ValueError, match="maxpool"):
        C.create_classifier("timm:test_convnext", 5, drop_stem_pool=True)


# --- feature networks and checkpoints --------------------------------------------------------------------

def _tiny_ckpt(path: Path, arch="googlenet_tiny", kw=None, dtype=None, size=SIZE) -> torch.nn.Module:
    torch.manual_seed(0)
    kw = {"width": 0.125} if kw is None and arch == "googlenet_tiny" else (kw or {})
    m = C.create_classifier(arch, K, **kw)
    cfg = {"num_classes": K, "image_size": size, "mean": [0.4, 0.5, 0.6], "std": [0.2, 0.25, 0.3],
           "model_kwargs": kw}
    C.save_classifier(path, m, arch, cfg, class_names=[f"c{i}" for i in range(K)], storage_dtype=dtype)
    return m.eval()


@pytest.mark.parametrize("arch", ["googlenet_tiny", "timm:test_resnet"])
def test_feature_network_normalises_inside_and_is_frozen(tmp_path, arch):
    m = _tiny_ckpt(tmp_path / "c.pt", arch)
    net = C.load_feature_network(tmp_path / "c.pt")
    assert isinstance(net, C.ClassifierFeatures) and net.num_classes == K
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    if arch == "googlenet_tiny":
        assert net.default_layers == ("inception3b", "inception4b")
        assert net.layer_names == C.GOOGLENET_LAYERS
    else:
        assert net.default_layers == ("layer2", "layer3")
    x = (torch.rand(3, 3, SIZE, SIZE) * 2 - 1).requires_grad_(True)
    feats, logits = net(x, net.default_layers)
    assert set(feats) == set(net.default_layers) and logits.shape == (3, K)
    mean = torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1)
    std = torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    ref_logits, _, ref_feats = m.run((to_unit(x.detach()) - mean) / std, net.default_layers)
    torch.testing.assert_close(logits, ref_logits)
    for name in net.default_layers:
        torch.testing.assert_close(feats[name], ref_feats[name])
    # logits=False (sem without cat) stops after the deepest requested layer: same features
    head = net.model.fc if arch == "googlenet_tiny" else net.model.model.get_classifier()
    calls = []
    handle = head.register_forward_hook(lambda *a: calls.append(1))
    early, none = net(x, net.default_layers, logits=False)
    handle.remove()
    assert calls == []  # the head never ran
    assert none is None and set(early) == set(net.default_layers)
    for name in net.default_layers:
        torch.testing.assert_close(early[name], feats[name])
    shallow, _ = net(x, net.layer_names[:1], logits=False)
    torch.testing.assert_close(shallow[net.layer_names[0]], net(x, net.layer_names[:1])[0][net.layer_names[0]])
    from inpaintkit.losses.composite import _skips_logits

    assert _skips_logits(net)
    (sum(f.square().sum() for f in feats.values()) + logits.sum()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    net.train()
    assert not net.training  # cannot be switched back to training mode by accident
    with pytest.raises(KeyError, match="unknown feature layer"):
        net(x, ["no_such_layer"])
    with pytest.raises(ValueError, match="required"):
        net(torch.zeros(1, 3, SIZE + 1, SIZE + 1))


def test_checkpoint_fp16_storage_restores_fp32_and_checks_kind(tmp_path, tiny_checkpoint):
    m = _tiny_ckpt(tmp_path / "h.pt", dtype=torch.float16)
    back, ck = C.load_classifier(tmp_path / "h.pt")
    assert ck["format"] == C.CLASSIFIER_FORMAT and ck["class_names"] == [f"c{i}" for i in range(K)]
    assert all(v.dtype != torch.float16 for v in back.state_dict().values())
    torch.testing.assert_close(back.fc.weight, m.fc.weight, atol=1e-3, rtol=1e-3)
    loaded = torch.load(tmp_path / "h.pt", weights_only=True)  # plain data: loads without code
    assert loaded["state_dict"]["fc.weight"].dtype == torch.float16
    with pytest.raises(CheckpointError, match="not a classifier checkpoint"):
        C.load_feature_network(tiny_checkpoint)  # a DCGAN checkpoint
    with pytest.raises(CheckpointError, match="requested"):
        C.load_feature_network(tmp_path / "h.pt", arch="googlenet")
    with pytest.raises(CheckpointError, match="64x64"):
        C.load_feature_network(tmp_path / "h.pt", image_size=64)
    with pytest.raises(FileNotFoundError):
        C.load_feature_network(tmp_path / "missing.pt")
    bad = torch.load(tmp_path / "h.pt", weights_only=True)
    bad["config"]["model_kwargs"] = {"width": 0.25}
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        C.load_classifier(tmp_path / "bad.pt")
    C.export_classifier(tmp_path / "h.pt", tmp_path / "e.pt")
    assert "train_state" not in torch.load(tmp_path / "e.pt", weights_only=True)


# --- augmentations and schedule --------------------------------------------------------------------------

def test_augmentations_are_seeded_and_shaped():
    x = torch.rand(6, 3, 17, 23) * 2 - 1
    assert torch.equal(A.random_crop(x, "shift", torch.Generator().manual_seed(0), pad=0), x)
    assert torch.equal(A.color_jitter(x, 0.0), x)
    for mode in ("shift", "rrc"):
        a = A.random_crop(x, mode, torch.Generator().manual_seed(3))
        b = A.random_crop(x, mode, torch.Generator().manual_seed(3))
        assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)
    # a shift is an exact integer translation: some interior pixel of x appears unchanged
    s = A.random_crop(x[:1], "shift", torch.Generator().manual_seed(1), pad=2)
    assert any(torch.equal(s[0, :, 5:12, 5:12], x[0, :, 5 + dy:12 + dy, 5 + dx:12 + dx])
               for dy in range(-2, 3) for dx in range(-2, 3))
    j = A.color_jitter(x, 0.4, torch.Generator().manual_seed(0))
    assert j.shape == x.shape and j.min() >= -1 and j.max() <= 1
    y = torch.arange(6)
    xm, ya, yb, lam = A.mix_batch(x, y, 0.0, 1.0, 1.0, torch.Generator().manual_seed(0))
    assert 0 <= lam <= 1 and torch.equal(ya, y) and sorted(yb.tolist()) == y.tolist()
    assert A.mix_batch(x, y, 1.0, 1.0, 0.0, torch.Generator())[3] == 1.0
    with pytest.raises(ValueError, match="crop mode"):
        A.random_crop(x, "zoom")


def test_eth_and_cosine_schedules():
    cfg = TrainConfig(data="x", out="y")
    assert [lr_at(cfg, e) for e in (0, 34.99, 35, 49.9, 50, 59)] == pytest.approx(
        [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5])
    cos = TrainConfig(data="x", out="y", schedule="cosine", epochs=10, warmup_epochs=2, lr=0.1)
    assert lr_at(cos, 1.0) == pytest.approx(0.05) and lr_at(cos, 2.0) == pytest.approx(0.1)
    assert lr_at(cos, 6.0) == pytest.approx(0.05) and lr_at(cos, 10.0) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(data="x", out="y", schedule="step")


def test_dataset_mean_std_matches_numpy():
    imgs = np.random.default_rng(0).integers(0, 256, (9, 5, 7, 3)).astype(np.uint8)
    mean, std = dataset_mean_std(imgs, chunk=4)
    a = imgs.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(mean, a.mean(0), rtol=1e-10)
    np.testing.assert_allclose(std, a.std(0), rtol=1e-8)


# --- training ----------------------------------------------------------------------------------------------

def test_training_learns_and_writes_its_outputs(tmp_path, data):
    train, val = data
    # timm's tiny ResNet: GoogLeNet's ~20 stacked BatchNorms need more than 16 steps before their
    # running statistics make eval-mode predictions meaningful
    r = C.train_classifier(data=train, val=val, out=str(tmp_path / "run"), crop="shift", jitter=0.1,
                           lr=3e-3, **{**TINY, "epochs": 4, "arch": "timm:test_resnet", "model_kwargs": {}})
    out = tmp_path / "run"
    for f in ("best.pt", "last.pt", "metrics.csv", "metrics.png", "config.json", "meta.json"):
        assert (out / f).is_file(), f
    import pandas as pd

    rows = pd.read_csv(out / "metrics.csv")
    assert list(rows.epoch) == [1, 2, 3, 4] and r["epochs_done"] == 4
    for c in ("lr", "train_loss", "train_top1", "train_top5", "val_loss", "val_top1", "val_top5", "seconds"):
        assert rows[c].notna().all(), c
    assert rows.train_loss.iloc[-1] < rows.train_loss.iloc[0]
    assert r["best_top1"] == pytest.approx(rows.val_top1.max())
    assert r["best_top1"] > 1 / K  # the fixture is easy: better than chance
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["num_classes"] == K and cfg["image_size"] == SIZE and len(cfg["mean"]) == 3
    assert "git_commit" in json.loads((out / "meta.json").read_text())
    net = C.load_feature_network(out / "best.pt")
    assert net.class_names == [f"class {k}" for k in range(K)]
    ev = C.evaluate_classifier(out / "best.pt", val, out=tmp_path / "per_class.csv")
    assert ev["top1"] == pytest.approx(r["best_top1"], abs=1e-6)
    table = pd.read_csv(tmp_path / "per_class.csv")
    assert list(table.columns) == ["class", "name", "n", "top1", "top5"] and table.n.sum() == 32
    assert (tmp_path / "per_class.json").is_file()


def test_resume_continues_exactly(tmp_path, data):
    train, val = data
    kw = dict(data=train, val=val, crop="rrc", jitter=0.2, cutmix=1.0, mix_prob=1.0, label_smoothing=0.1, **TINY)
    full = C.train_classifier(out=str(tmp_path / "a"), **kw)
    C.train_classifier(out=str(tmp_path / "b"), **{**kw, "epochs": 1})
    resumed = C.train_classifier(out=str(tmp_path / "b"), resume=True, **kw)
    assert resumed["epochs_done"] == full["epochs_done"] == 2
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in a["train_state"]["rows"]]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in b["train_state"]["rows"]]
    with pytest.raises(FileExistsError, match="--resume"):
        C.train_classifier(out=str(tmp_path / "a"), **kw)
    with pytest.raises(ValueError, match="different configuration"):
        C.train_classifier(out=str(tmp_path / "a"), resume=True, **{**kw, "lr": 0.5})
    with pytest.raises(FileNotFoundError, match="last.pt"):
        C.train_classifier(out=str(tmp_path / "c"), resume=True, **kw)


def test_training_from_pretrained_keeps_4a_to_4c_fixed(tmp_path, data):
    train, _ = data
    torch.manual_seed(0)
    src = C.create_classifier("googlenet_tiny", 1000, width=0.125)
    torch.save(src.state_dict(), tmp_path / "imagenet.pth")
    C.train_classifier(data=train, out=str(tmp_path / "ft"), pretrained=str(tmp_path / "imagenet.pth"),
                       **{**TINY, "epochs": 1})
    ck = torch.load(tmp_path / "ft" / "last.pt", weights_only=True)
    assert ck["config"]["mean"] == [0.5] * 3 and ck["config"]["std"] == [0.5] * 3  # weights' [-1, 1] input
    assert list(ck["config"]["model_kwargs"]["frozen"]) == ["inception4a", "inception4b", "inception4c"]
    ref = src.state_dict()
    for k, v in ck["state_dict"].items():
        if k.startswith(("inception4a", "inception4b", "inception4c")):
            assert torch.equal(v, ref[k]), k  # weights and BatchNorm statistics unchanged
    assert not torch.equal(ck["state_dict"]["inception3a.branch1.conv.weight"],
                           ref["inception3a.branch1.conv.weight"])


def test_unlabelled_or_mismatched_data_is_rejected(tmp_path, data):
    unl = _write_npz(tmp_path / "unl.npz", 16, labels=False)
    with pytest.raises(DatasetError, match="no labels"):
        C.train_classifier(data=unl, out=str(tmp_path / "r1"), **TINY)
    _tiny_ckpt(tmp_path / "c.pt")
    with pytest.raises(DatasetError, match="no labels"):
        C.evaluate_classifier(tmp_path / "c.pt", unl)
    train, _ = data
    other = tmp_path / "other.npz"
    np.savez(other, images=np.zeros((8, SIZE, SIZE, 3), np.uint8), labels=np.arange(8) % K,
             class_names=np.array(["a", "b", "c", "d"]))
    with pytest.raises(DatasetError, match="differently"):
        C.train_classifier(data=train, val=f"npz:{other}", out=str(tmp_path / "r2"), **TINY)
    with pytest.raises(ValueError, match="googlenet"):
        C.train_classifier(data=train, out=str(tmp_path / "r3"), pretrained=str(other),
                           **{**TINY, "arch": "timm:test_resnet", "model_kwargs": {}})


def test_cli_train_and_eval(tmp_path, data):
    from click.testing import CliRunner

    from inpaintkit.cli import main

    train, val = data
    out = tmp_path / "cli"
    res = CliRunner().invoke(main, ["train-classifier", "--data", train, "--val", val, "--arch", "timm:test_resnet",
                                    "--epochs", "3", "--out", str(out), "--dry-run", "--batch-size", "8",
                                    "--crop", "rrc", "--jitter", "0.2", "--threads", "1", "--seed", "3",
                                    "--device", "cpu", "--best-dtype", "float16"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "best top-1" in res.output
    assert len((out / "metrics.csv").read_text().strip().splitlines()) == 3  # header + 2 dry-run epochs
    res = CliRunner().invoke(main, ["eval-classifier", "--classifier", str(out / "best.pt"), "--data", val,
                                    "--out", str(tmp_path / "pc.csv")])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "top-1" in res.output and (tmp_path / "pc.csv").is_file()
    res = CliRunner().invoke(main, ["train-classifier", "--data", train, "--out", str(tmp_path / "x"),
                                    "--crop-scale", "0,1"])
    assert res.exit_code != 0 and "crop_scale" in res.output


def test_cli_config_file(tmp_path, data):
    import json

    from click.testing import CliRunner

    from inpaintkit.cli import main

    train, _ = data
    toml = tmp_path / "clf.toml"
    toml.write_text(f'data = "{train}"\narch = "googlenet_tiny"\nmodel-kwargs = \'{{"width": 0.125}}\'\n'
                    f'epochs = 1\nbatch-size = 16\ndry-run = true\nflip = false\nseed = 5\n')
    out = tmp_path / "cli"
    res = CliRunner().invoke(main, ["train-classifier", "--config", str(toml), "--seed", "6", "--out", str(out)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    config = json.loads((out / "config.json").read_text())
    assert (config["arch"], config["batch_size"], config["flip"], config["seed"]) == ("googlenet_tiny", 16, False, 6)
    assert (out / "config.toml").read_text() == toml.read_text()


def test_python_m_classifiers_is_an_alias():
    r = subprocess.run([sys.executable, "-m", "classifiers", "--help"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "--arch" in r.stdout and "--resume" in r.stdout


def test_ddp_two_cpu_processes(tmp_path, data):
    train, val = data
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                        "--master_port", str(29500 + os.getpid() % 1000), "-m", "classifiers",
                        "--data", train, "--val", val, "--arch", "googlenet_tiny", "--model-kwargs",
                        '{"width": 0.125}', "--epochs", "1", "--batch-size", "16", "--out", str(out),
                        "--device", "cpu", "--threads", "1"],
                       capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = (out / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 2  # a header and one row per epoch: only rank 0 writes
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["world_size"] == 2
    ck = torch.load(out / "last.pt", weights_only=True)
    # the validation metrics were summed over both ranks' shards: counts are multiples of 1/32
    top1 = float(ck["train_state"]["rows"][-1]["val_top1"])
    assert abs(top1 * 32 - round(top1 * 32)) < 1e-4


# --- masked-input classifiers (--mask-augment, --init) -----------------------------------------------

def test_mask_holes_cuts_seeded_holes_with_each_fill():
    x = torch.rand(64, 3, SIZE, SIZE) * 2 - 1
    a = A.mask_holes(x, ["center"], 0.5, ("zero", "flat", "noise"), torch.Generator().manual_seed(0))
    b = A.mask_holes(x, ["center"], 0.5, ("zero", "flat", "noise"), torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape
    hole = A.hole_masks(["center"], SIZE, [0])[0, 0] == 0
    changed = (a != x).flatten(1).any(1)
    assert 16 < int(changed.sum()) < 48  # about half the batch
    assert torch.equal(a[:, :, ~hole], x[:, :, ~hole])  # known pixels never move
    fills = a[changed][:, :, hole]  # (n, 3, hole pixels)
    zero = (fills == 0).flatten(1).all(1)
    flat = ~zero & (fills == fills[:, :, :1]).flatten(1).all(1)
    assert zero.any() and flat.any() and (~zero & ~flat).any()  # all three fills are drawn
    only_zero = A.mask_holes(x, ["random:0.7"], 1.0, ("zero",), torch.Generator().manual_seed(1))
    m = (only_zero == 0).all(1)
    assert 0.6 < float(m.float().mean()) < 0.8  # random:0.7 holes, zero-filled
    assert torch.equal(A.mask_holes(x, [], 1.0), x) and torch.equal(A.mask_holes(x, ["center"], 0.0), x)
    with pytest.raises(ValueError, match="fills"):
        A.mask_holes(x, ["center"], 1.0, ("blur",))


def test_hole_masks_are_a_function_of_the_seed():
    m = A.hole_masks(["center", "left"], SIZE, [4, 5, 4])
    assert m.shape == (3, 1, SIZE, SIZE) and torch.equal(m[0], m[2])
    assert float(m[0].mean()) == pytest.approx(0.75)  # seed 4 -> center
    assert float(m[1].mean()) == pytest.approx(0.5)  # seed 5 -> left


def test_fine_tuning_with_holes_selects_on_masked_val_and_reports_per_mask(tmp_path, data):
    train, val = data
    src = tmp_path / "src"
    C.train_classifier(data=train, val=val, out=str(src), **{**TINY, "epochs": 1})
    init = torch.load(src / "best.pt", weights_only=True)
    specs = ("center", "random:0.7")
    r = C.train_classifier(data=train, val=val, out=str(tmp_path / "ft"), init=str(src / "best.pt"),
                           mask_augment=specs, mask_prob=1.0, lr=1e-4, **{**TINY, "epochs": 1})
    import pandas as pd

    rows = pd.read_csv(tmp_path / "ft" / "metrics.csv")
    assert "val_masked_top1" in rows and r["best_top1"] == pytest.approx(rows.val_masked_top1.max())
    ck = torch.load(tmp_path / "ft" / "last.pt", weights_only=True)
    assert ck["config"]["mean"] == init["config"]["mean"]  # normalisation taken over from --init
    moved = [k for k in init["state_dict"] if not torch.equal(init["state_dict"][k].float(),
                                                              ck["state_dict"][k].float())]
    assert moved  # it trained from the initial weights...
    # ...which it did start from: one step at a tiny lr stays close to them, unlike a fresh net
    w = "conv1.conv.weight"
    assert (ck["state_dict"][w] - init["state_dict"][w].float()).abs().max() < 0.05
    ev = C.evaluate_classifier(tmp_path / "ft" / "best.pt", val, masks=specs)
    assert set(ev["masked_top1"]) == set(specs) and all(0 <= v <= 1 for v in ev["masked_top1"].values())
    with pytest.raises(ValueError, match="init and pretrained"):
        C.train_classifier(data=train, out=str(tmp_path / "x"), init="a.pt", pretrained="b.pt", **TINY)
    with pytest.raises(ValueError, match="classifier"):
        C.train_classifier(data=train, out=str(tmp_path / "y"), init=str(tmp_path / "ft" / "best.pt"),
                           **{**TINY, "arch": "timm:test_resnet", "model_kwargs": {}})
    with pytest.raises(ValueError, match="mask"):
        C.train_classifier(data=train, out=str(tmp_path / "z"), mask_augment=("nosuchmask",), **TINY)
