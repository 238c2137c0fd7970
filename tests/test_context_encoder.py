"""The Context Encoder baseline (``ce``): the network, its checkpoints, its training command and its
place in the benchmark. The shared baseline contract (known pixels bit-identical, hole never read,
odd sizes) is tested for ``ce`` with every other baseline in test_baselines.py."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from inpaintkit.baselines import (
    ContextEncoder,
    ContextEncoderConfig,
    load_context_encoder,
    run_baseline,
    save_context_encoder,
)
from inpaintkit.baselines.context_encoder import ChannelwiseFC
from inpaintkit.cli import main
from inpaintkit.data import ArrayDataset
from inpaintkit.masks import make_mask
from inpaintkit.models import CheckpointError, create_model, save_gan
from inpaintkit.train_context_encoder import (
    MASK_KINDS,
    CETrainConfig,
    sample_masks,
    train_context_encoder,
)


def _tiny(size: int = 16, seed: int = 0) -> ContextEncoder:
    torch.manual_seed(seed)
    return ContextEncoder(ContextEncoderConfig(image_size=size, nef=4, ngf=4)).eval()


def test_shapes_and_channelwise_fc():
    net = ContextEncoder(ContextEncoderConfig(image_size=64, nef=8, ngf=8))
    y = torch.rand(3, 3, 64, 64) * 2 - 1
    m = make_mask("center", 64, batch=3)
    out = net(y * m, m)
    assert out.shape == (3, 3, 64, 64) and out.abs().max() <= 1
    # the bottleneck is 64 channels of 4x4: one 16x16 map per channel, not a dense 1024x1024
    fc = net.bottleneck[0]
    assert isinstance(fc, ChannelwiseFC) and tuple(fc.weight.shape) == (64, 16, 16)
    # channel-wise: changing channel 0's input leaves channel 1's output unchanged
    x = torch.randn(2, 64, 4, 4)
    x2 = x.clone()
    x2[:, 0] += 1
    assert torch.equal(fc(x)[:, 1:], fc(x2)[:, 1:]) and not torch.equal(fc(x)[:, 0], fc(x2)[:, 0])


def test_the_mask_is_an_input_and_the_hole_is_not():
    net = _tiny()
    y = torch.rand(2, 3, 16, 16) * 2 - 1
    m = make_mask("center", 16, batch=2)
    junk = torch.where(m.bool().expand_as(y), y, torch.full_like(y, 5.0))
    assert torch.equal(net(y * m, m), net(junk, m))  # the hole is zeroed inside
    m2 = make_mask("left", 16, batch=2)
    assert not torch.allclose(net(y * m, m), net(y * m, m2))


def test_wrong_shapes_raise():
    net = _tiny()
    with pytest.raises(ValueError, match="expects y of shape"):
        net(torch.zeros(1, 3, 32, 32), torch.ones(1, 1, 32, 32))
    with pytest.raises(ValueError, match="power of two"):
        ContextEncoderConfig(image_size=48)


def test_checkpoint_roundtrip_fp16_and_other_architectures(tmp_path):
    net = _tiny()
    path = tmp_path / "ce.pt"
    save_context_encoder(path, net, meta={"note": "x"}, storage_dtype=torch.float16)
    loaded, ckpt = load_context_encoder(path)
    assert ckpt["meta"]["note"] == "x"
    p16 = {k: v.half().float() for k, v in net.state_dict().items() if v.is_floating_point()}
    for k, v in loaded.state_dict().items():
        if v.is_floating_point():
            assert v.dtype == torch.float32 and torch.equal(v, p16[k])
    y = torch.rand(2, 3, 16, 16) * 2 - 1
    m = make_mask("center", 16, batch=2)
    assert torch.equal(run_baseline("ce", y, m, model=path), run_baseline("ce", y, m, model=loaded))

    g, d = create_model("dcgan_test")
    save_gan(tmp_path / "gan.pt", g, d, "dcgan_test")
    with pytest.raises(CheckpointError, match="not a Context Encoder checkpoint"):
        load_context_encoder(tmp_path / "gan.pt")
    with pytest.raises(FileNotFoundError):
        run_baseline("ce", y, m, model=tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_context_encoder(tmp_path / "junk.pt")


def test_batching_does_not_change_the_fill():
    net = _tiny()
    y = torch.rand(5, 3, 16, 16) * 2 - 1
    m = make_mask("random:0.7", 16, seed=3, batch=5)
    assert torch.allclose(run_baseline("ce", y, m, model=net, batch_size=2),
                          run_baseline("ce", y, m, model=net), atol=1e-6)


def test_training_masks_cover_every_kind_and_always_have_a_hole():
    rng = np.random.default_rng(0)
    masks = sample_masks(MASK_KINDS, 400, 32, rng)
    assert masks.shape == (400, 32, 32) and masks.dtype == bool
    holes = (~masks).mean((1, 2))
    assert (holes > 0).all() and (holes < 1).all()
    center = make_mask("center", 32)[0, 0].numpy().astype(bool)
    assert (masks == center).all((1, 2)).any()  # some center masks
    assert ((holes > 0.45) & (holes < 0.95)).sum() > 50  # halves and random masks
    with pytest.raises(ValueError, match="unknown mask kind"):
        CETrainConfig(masks=("center", "star")).validate()


def _data(n: int = 24, size: int = 32) -> str:
    return f"synthetic-cars:{n}"


def test_training_lowers_the_reconstruction_error_and_resumes_exactly(tmp_path):
    base = dict(data=_data(), image_size=32, batch_size=8, nef=8, ngf=8, ndf=8, sample_every=50,
                ckpt_every=10, log_every=5, lr=1e-3)
    full = tmp_path / "full"
    train_context_encoder(CETrainConfig(iters=40, **base), full, progress=False)
    rows = [json.loads(json.dumps(r)) for r in
            __import__("csv").DictReader(open(full / "losses.csv"))]
    first, last = float(rows[0]["loss_rec"]), float(rows[-1]["loss_rec"])
    assert last < 0.7 * first, (first, last)

    part = tmp_path / "part"
    train_context_encoder(CETrainConfig(iters=20, **base), part, progress=False)
    train_context_encoder(CETrainConfig(iters=40, **base), part, resume=True, progress=False)
    a, _ = load_context_encoder(full / "checkpoint.pt")
    b, _ = load_context_encoder(part / "checkpoint.pt")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    with pytest.raises(ValueError, match="lr: 0.001 -> 0.002"):
        train_context_encoder(CETrainConfig(iters=50, **{**base, "lr": 2e-3}), part, resume=True,
                              progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train_context_encoder(CETrainConfig(iters=50, **base), part, progress=False)


def test_train_command_dry_run_and_bad_options(tmp_path):
    r = CliRunner().invoke(main, ["train-context-encoder", "--dry-run", "--out", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    for f in ("config.json", "meta.json", "checkpoint.pt", "context-encoder.pt", "losses.csv",
              "losses.png", "samples.png"):
        assert (tmp_path / "r" / f).is_file(), f
    loaded, ckpt = load_context_encoder(tmp_path / "r" / "context-encoder.pt")
    assert "discriminator" not in ckpt["state_dict"]  # the release file is the network alone
    r = CliRunner().invoke(main, ["train-context-encoder", "--dry-run", "--masks", "center,star",
                                  "--out", str(tmp_path / "bad")])
    assert r.exit_code != 0 and "unknown mask kind" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["train-context-encoder", "--data", "npz:/nonexistent/x.npz",
                                  "--out", str(tmp_path / "bad2")])
    assert r.exit_code != 0 and "x.npz" in r.output


def test_bench_runs_ce_with_a_checkpoint_and_records_it(tmp_path):
    from inpaintkit.bench import BenchConfig, BenchError, run_bench

    net = ContextEncoder(ContextEncoderConfig(image_size=32, nef=4, ngf=4))
    save_context_encoder(tmp_path / "ce.pt", net)
    cfg = BenchConfig(dry_run=True, baselines=("ce",), ce=str(tmp_path / "ce.pt"),
                      out=str(tmp_path / "run"), progress=False, report=False)
    res = run_bench(cfg, echo=None)
    rows = [r for r in res.rows if r["method"] == "ce"]
    assert rows and all(not r.get("error") for r in rows)
    assert all(r["ce"] == str(tmp_path / "ce.pt") for r in rows)
    # another model file is another configuration: refused, not mixed into the same rows
    save_context_encoder(tmp_path / "ce.pt", ContextEncoder(ContextEncoderConfig(32, 4, 4)))
    with pytest.raises(BenchError, match="another configuration"):
        run_bench(cfg, echo=None)
    # a model of another size is a clear error
    save_context_encoder(tmp_path / "ce16.pt", _tiny(16))
    with pytest.raises(BenchError, match="16x16"):
        run_bench(BenchConfig(dry_run=True, baselines=("ce",), ce=str(tmp_path / "ce16.pt"),
                              out=str(tmp_path / "run16"), progress=False, report=False), echo=None)


def test_bench_needs_ce_on_other_data(tmp_path):
    from inpaintkit.bench import BenchConfig, BenchError, run_bench

    imgs = np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", images=imgs)
    with pytest.raises(BenchError, match="needs --ce"):
        run_bench(BenchConfig(baselines=("ce",), data=f"npz:{tmp_path / 'd.npz'}",
                              out=str(tmp_path / "run"), progress=False, report=False), echo=None)


def test_array_dataset_is_what_training_reads():
    # train_context_encoder reads batches through ArrayDataset.get_batch, like train-gan
    ds = ArrayDataset(np.zeros((4, 16, 16, 3), np.uint8))
    x, _ = ds.get_batch([0, 1])
    assert x.shape == (2, 3, 16, 16)
