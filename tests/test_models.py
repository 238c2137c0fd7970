"""DCGAN models: registered variants, shapes, config validation, self-describing checkpoints."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from inpaintkit.models import (
    MODELS,
    CheckpointError,
    DCGANConfig,
    create_model,
    load_gan,
    read_checkpoint,
    save_gan,
)


@pytest.mark.parametrize("name", MODELS.list())
def test_every_variant_builds_with_the_right_shapes(name):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        g, d = create_model(name)
    cfg = g.config
    g.eval(), d.eval()
    with torch.no_grad():
        x = g(torch.rand(2, cfg.nz) * 2 - 1)
        logits = d(x)
    assert x.shape == (2, 3, cfg.image_size, cfg.image_size)
    assert x.abs().max() <= 1.0
    assert logits.shape == (2,) and torch.isfinite(logits).all()


@pytest.mark.parametrize("kernel_size", [4, 5])
@pytest.mark.parametrize("image_size", [8, 32])
def test_kernel_sizes_and_layer_stack(kernel_size, image_size):
    g, d = create_model("dcgan_test", kernel_size=kernel_size, image_size=image_size, nz=7, ngf=4, ndf=3)
    convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(convs) == g.config.n_up
    # each transposed conv halves the channels (the last makes 3) and has the kernel asked for
    chans = [c.in_channels for c in convs] + [convs[-1].out_channels]
    assert chans[-1] == 3 and all(a == 2 * b for a, b in zip(chans[:-2], chans[1:-1]))
    assert all(c.kernel_size == (kernel_size, kernel_size) for c in convs)
    dconvs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in dconvs] == [3 * 2**i for i in range(g.config.n_up)]
    # no BatchNorm directly after the discriminator's first conv (SPEC)
    assert isinstance(d.body[1], nn.LeakyReLU)
    out = g.eval()(torch.zeros(3, 7))
    assert out.shape == (3, 3, image_size, image_size) and d.eval()(out).shape == (3,)


def test_config_validation_and_bad_inputs():
    for bad in ({"image_size": 48}, {"image_size": 4}, {"kernel_size": 3}, {"nz": 0}, {"ngf": -1}):
        with pytest.raises(ValueError):
            DCGANConfig(**bad)
    g, d = create_model("dcgan_test")
    with pytest.raises(ValueError, match=r"z must have shape \(B, 16\)"):
        g(torch.zeros(2, 100))
    with pytest.raises(ValueError, match=r"discriminator expects \(B, 3, 32, 32\)"):
        d(torch.zeros(2, 3, 64, 64))
    with pytest.raises(KeyError, match="unknown model 'dcgan_99'.*dcgan_64"):
        create_model("dcgan_99")


def test_checkpoint_round_trip(tiny_gan, tmp_path):
    g, d = tiny_gan
    path = tmp_path / "ckpt.pt"
    save_gan(path, g, d, "dcgan_test", meta={"iters": 3})
    ckpt = read_checkpoint(path)
    assert ckpt["arch"] == "dcgan_test" and ckpt["config"] == g.config.to_dict()
    assert ckpt["meta"] == {"iters": 3}
    g2, d2, _ = load_gan(path, image_size=32, arch="dcgan_test")
    assert not g2.training and not d2.training
    z = torch.rand(4, 16)
    with torch.no_grad():
        torch.testing.assert_close(g2(z), g(z), rtol=0, atol=0)
        torch.testing.assert_close(d2(g(z)), d(g(z)), rtol=0, atol=0)
    # fp16 storage halves the file and loads back as fp32
    save_gan(tmp_path / "half.pt", g, d, "dcgan_test", storage_dtype=torch.float16)
    g3, _, _ = load_gan(tmp_path / "half.pt")
    assert next(g3.parameters()).dtype == torch.float32
    with torch.no_grad():
        torch.testing.assert_close(g3(z), g(z), rtol=0, atol=2e-2)


def test_checkpoint_errors(tiny_gan, tmp_path):
    g, d = tiny_gan
    good = tmp_path / "good.pt"
    save_gan(good, g, d, "dcgan_test")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_gan(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*junk.pt"):
        load_gan(tmp_path / "junk.pt")
    torch.save({"format": "inpaintkit.classifier/1"}, tmp_path / "clf.pt")
    with pytest.raises(CheckpointError, match="not a DCGAN checkpoint"):
        load_gan(tmp_path / "clf.pt")
    with pytest.raises(CheckpointError, match="is for 32x32 images .* but the data is 64x64"):
        load_gan(good, image_size=64)
    with pytest.raises(CheckpointError, match="'dcgan_test' checkpoint, but 'dcgan_64'"):
        load_gan(good, arch="dcgan_64")
    # weights that do not fit the declared config: a clear error, not a shape trace
    ckpt = torch.load(good, weights_only=True)
    ckpt["config"]["ngf"] = 16
    torch.save(ckpt, tmp_path / "tampered.pt")
    with pytest.raises(CheckpointError, match="generator weights do not fit"):
        load_gan(tmp_path / "tampered.pt")
    save_gan(tmp_path / "g_only.pt", g, None, "dcgan_test")
    with pytest.raises(CheckpointError, match="holds no discriminator"):
        load_gan(tmp_path / "g_only.pt")
    g4, d4, _ = load_gan(tmp_path / "g_only.pt", with_discriminator=False)
    assert d4 is None and g4 is not None


class _Payload:
    """Any non-tensor object: a weights_only load must refuse to unpickle it."""


def test_checkpoints_load_as_data_only(tmp_path):
    torch.save({"format": "inpaintkit.dcgan/1", "obj": _Payload()}, tmp_path / "code.pt")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_gan(tmp_path / "code.pt")


@pytest.mark.parametrize("drop, message", [
    ("config", r"lacks \['config'\]"),
    ("state_dict", r"lacks \['state_dict'\]"),
    ("generator", r"'state_dict' must be a dict holding 'generator'"),
])
def test_incomplete_checkpoint_is_a_clear_error(tiny_gan, tmp_path, drop, message):
    # A truncated or hand-edited checkpoint names the file and what is missing, not a KeyError.
    g, d = tiny_gan
    save_gan(tmp_path / "good.pt", g, d, "dcgan_test")
    ckpt = torch.load(tmp_path / "good.pt", weights_only=True)
    if drop == "generator":
        del ckpt["state_dict"]["generator"]
    else:
        del ckpt[drop]
    torch.save(ckpt, tmp_path / "incomplete.pt")
    with pytest.raises(CheckpointError, match=message) as info:
        load_gan(tmp_path / "incomplete.pt")
    assert "incomplete.pt" in str(info.value)
