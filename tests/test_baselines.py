"""Classical baselines: the shared contract (parametrised over the registry) and each method's
own correctness check on an image whose answer is known."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from inpaintkit.baselines import (
    BASELINES,
    baseline_options,
    describe_baseline,
    list_baselines,
    nearest_neighbour_search,
    run_baseline,
)
from inpaintkit.data import ArrayDataset
from inpaintkit.masks import MaskError, make_mask
from inpaintkit.utils import from_uint8, to_uint8

NAMES = list_baselines()


def _has_cv2() -> bool:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


def _images(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Smooth random images in [-1, 1] (a few low-frequency cosines per channel)."""
    g = torch.Generator().manual_seed(seed)
    yy = torch.linspace(0, 1, h)[:, None]
    xx = torch.linspace(0, 1, w)[None, :]
    out = torch.zeros(b, 3, h, w)
    for _ in range(3):
        scale = torch.tensor([4.0, 4.0, 6.28])[:, None, None, None, None]
        fy, fx, ph = torch.rand(3, b, 3, 1, 1, generator=g) * scale
        out += torch.cos(fy * yy * 3.14 + fx * xx * 3.14 + ph)
    return (out / 3).clamp(-1, 1)


def _options(name: str, y: torch.Tensor) -> dict:
    """Small, fast settings; ``nn`` gets a pool that contains no query."""
    if name == "telea" and not _has_cv2():
        pytest.skip("opencv not installed")
    opts: dict = {}
    if name == "nn":
        opts["pool"] = _images(6, y.shape[2], y.shape[3], seed=123)
    if name == "tv":
        opts["max_iter"] = 200
    if name == "lowrank":
        opts["max_iter"] = 30
    if name == "im":
        opts.update(em_iters=2, pm_iters=2)
    if name == "ce":  # a tiny random Context Encoder at 16x16: other sizes go through a resize
        from inpaintkit.baselines import ContextEncoder, ContextEncoderConfig

        torch.manual_seed(0)
        opts["model"] = ContextEncoder(ContextEncoderConfig(image_size=16, nef=4, ngf=4)).eval()
    return opts


def test_registry_lists_the_issue_baselines():
    assert {"im", "tv", "lowrank", "biharmonic", "nn", "telea", "ce"} <= set(NAMES)
    for name in NAMES:
        assert describe_baseline(name)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("spec,size", [("center", (24, 20)), ("random:0.7", (24, 20)),
                                       ("left", (37, 31)), ("center", (37, 31))])
def test_known_pixels_unchanged_and_hole_never_read(name, spec, size):
    h, w = size
    x = _images(2, h, w)
    m = make_mask(spec, (h, w), seed=1, batch=2)
    hole = ~m.bool().expand_as(x)
    y_nan = x.masked_fill(hole, float("nan"))
    y_junk = x.masked_fill(hole, 7.0)
    opts = _options(name, x)
    out = run_baseline(name, y_nan, m, **opts)
    out2 = run_baseline(name, y_junk, m, **opts)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.isfinite(out).all()
    assert out.min() >= -1 and out.max() <= 1
    assert torch.equal(out[~hole], x[~hole]), "known pixels must come out bit-identical"
    assert torch.equal(out, out2), "the hole's contents of y must not matter"


@pytest.mark.parametrize("name", NAMES)
def test_mask_batch_of_one_broadcasts(name):
    x = _images(2, 20, 18)
    m = make_mask("center", (20, 18))
    out = run_baseline(name, x, m, **_options(name, x))
    assert out.shape == x.shape
    assert torch.equal(out[:, :, :5], x[:, :, :5])


@pytest.mark.parametrize("name", NAMES)
def test_rejects_bad_masks_and_images(name):
    x = _images(1, 16, 16)
    opts = _options(name, x)
    good = make_mask("center", 16)
    bad_masks = {
        "non-binary": good * 0.5,
        "no hole": torch.ones(1, 1, 16, 16),
        "no known pixel": torch.zeros(1, 1, 16, 16),
        "wrong size": make_mask("center", 15),
        "wrong batch": make_mask("center", 16, batch=3),
        "wrong shape": torch.ones(1, 16, 16),
    }
    for why, m in bad_masks.items():
        with pytest.raises(MaskError):
            run_baseline(name, x, m, **opts)
    y = x.clone()
    y[0, 0, 0, 0] = float("nan")  # a known pixel
    with pytest.raises(ValueError, match="NaN"):
        run_baseline(name, y, good, **opts)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        run_baseline(name, x * 3, good, **opts)
    with pytest.raises(ValueError, match="shape"):
        run_baseline(name, x[:, :2], good, **opts)


def test_run_baseline_errors_and_none_options():
    x = _images(1, 16, 16)
    m = make_mask("center", 16)
    with pytest.raises(KeyError, match="known baselines: .*biharmonic"):
        run_baseline("nope", x, m)
    with pytest.raises(TypeError, match="does not take option"):
        run_baseline("tv", x, m, pool=x)
    assert "seed" in baseline_options("im") and "pool" in baseline_options("nn")
    # None options are dropped, so the defaults apply
    assert torch.equal(run_baseline("tv", x, m, max_iter=None, tol=None), run_baseline("tv", x, m))


# --- im ------------------------------------------------------------------------------------------

def _texture(h: int, w: int) -> torch.Tensor:
    """A colour texture periodic with period 6 x 5 (so every patch recurs many times)."""
    yy = torch.arange(h, dtype=torch.float32)[:, None]
    xx = torch.arange(w, dtype=torch.float32)[None, :]
    a = torch.sin(2 * torch.pi * yy / 6) * torch.cos(2 * torch.pi * xx / 5)
    b = torch.sign(torch.sin(2 * torch.pi * (yy + xx) / 6 + 0.3))
    img = torch.stack([0.8 * a, 0.5 * b, 0.4 * a * b + 0.2 * b])
    return img[None].clamp(-1, 1)


def _psnr(a: torch.Tensor, b: torch.Tensor, where: torch.Tensor) -> float:
    from skimage.metrics import peak_signal_noise_ratio

    ua, ub = to_uint8(a)[0], to_uint8(b)[0]
    sel = where[0, 0].numpy()
    return float(peak_signal_noise_ratio(ub[sel], ua[sel], data_range=255))


def test_im_recovers_a_repeating_texture():
    x = _texture(40, 44)
    m = make_mask("center", (40, 44))
    hole = m == 0
    out = run_baseline("im", x, m, seed=0)
    mean_fill = torch.where(hole, (x * m).sum((2, 3), keepdim=True) / m.sum(), x)
    p_im, p_mean = _psnr(out, x, hole), _psnr(mean_fill, x, hole)
    assert p_im > 30 and p_im > p_mean + 20, (p_im, p_mean)


def test_im_is_deterministic_given_a_seed_and_handles_random_masks():
    x = _images(1, 32, 30)
    m = make_mask("random:0.7", (32, 30), seed=3)
    a = run_baseline("im", x, m, seed=5, em_iters=2)
    b = run_baseline("im", x, m, seed=5, em_iters=2)
    assert torch.equal(a, b)
    # the fallback (partially-known sources) does better than a constant fill on a smooth image
    hole = m == 0
    mean_fill = torch.where(hole, (x * m).sum((2, 3), keepdim=True) / m.sum(), x)
    assert _psnr(a, x, hole) > _psnr(mean_fill, x, hole) + 5


def test_im_rejects_bad_options():
    x = _images(1, 16, 16)
    with pytest.raises(ValueError, match="patch_size"):
        run_baseline("im", x, make_mask("center", 16), patch_size=0)
    with pytest.raises(ValueError, match="hole_source_weight"):
        run_baseline("im", x, make_mask("center", 16), hole_source_weight=2.0)


# --- tv ------------------------------------------------------------------------------------------

def _two_colours(h: int, w: int, edge: int) -> torch.Tensor:
    a = torch.tensor([0.8, -0.5, 0.2])[:, None, None]
    b = torch.tensor([-0.6, 0.4, 0.9])[:, None, None]
    img = torch.empty(1, 3, h, w)
    img[0, :, :, :edge] = a
    img[0, :, :, edge:] = b
    return img


def test_tv_fills_a_piecewise_constant_image_exactly():
    # A vertical two-colour edge; one hole inside each colour region. Each hole's border is a
    # single colour, so the unique TV minimiser fills it with that colour (TV 0 inside, no new
    # jump); the start (the mean of all known pixels) is far from it.
    x = _two_colours(21, 19, 9)
    m = torch.ones(1, 1, 21, 19)
    m[..., 3:17, 1:7] = 0
    m[..., 6:19, 11:17] = 0
    out = run_baseline("tv", x, m, max_iter=3000, tol=1e-8)
    assert (out - x).abs().max() < 1e-4


def test_tv_batch_invariant():
    x = _images(3, 20, 18)
    m = make_mask("random:0.7", (20, 18), seed=2, batch=3)
    full = run_baseline("tv", x, m, max_iter=300)
    one = run_baseline("tv", x[1:2], m[1:2], max_iter=300)
    assert torch.allclose(full[1:2], one, atol=1e-6)


# --- lowrank -------------------------------------------------------------------------------------

def test_lowrank_recovers_a_rank_two_image_from_half_the_pixels():
    g = torch.Generator().manual_seed(0)
    h, w = 64, 64
    u = torch.randn(3, h, 2, generator=g, dtype=torch.float64)
    v = torch.randn(3, 2, w, generator=g, dtype=torch.float64)
    x = u @ v
    x = (x / x.abs().amax((1, 2), keepdim=True) * 0.9)[None]
    assert int(torch.linalg.matrix_rank(x[0, 0])) == 2
    m = make_mask("random:0.5", (h, w), seed=0).double()
    out = run_baseline("lowrank", x, m)
    hole = (m == 0).expand_as(x)
    rel = (out - x)[hole].norm() / x[hole].norm()
    assert rel < 1e-2, float(rel)


# --- nn ------------------------------------------------------------------------------------------

def test_nn_returns_the_training_image_when_the_query_is_one():
    pool = _images(40, 24, 20, seed=7)
    m = make_mask("center", (24, 20), seed=0, batch=2)
    y = pool[[13, 29]].clone()
    out = run_baseline("nn", y, m, pool=pool, chunk_size=16)  # several chunks
    assert torch.equal(out, pool[[13, 29]])
    idx, dist = nearest_neighbour_search(y, m, pool, chunk_size=7)
    assert idx.tolist() == [13, 29] and torch.all(dist == 0)


def test_nn_with_an_array_dataset_pool():
    imgs = to_uint8(_images(10, 16, 16, seed=9))
    ds = ArrayDataset(imgs, name="pool")
    y = from_uint8(imgs[4:5])
    out = run_baseline("nn", y, make_mask("left", 16), pool=ds)
    assert torch.equal(out, y)


def test_nn_errors():
    y = _images(1, 16, 16)
    m = make_mask("center", 16)
    with pytest.raises(ValueError, match="pool"):
        run_baseline("nn", y, m)
    with pytest.raises(ValueError, match="16x16"):
        run_baseline("nn", y, m, pool=_images(3, 20, 20))
    with pytest.raises(TypeError, match="ArrayDataset"):
        run_baseline("nn", y, m, pool=np.zeros((3, 16, 16, 3), np.uint8))


# --- telea ---------------------------------------------------------------------------------------

def test_telea_names_the_package_when_opencv_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # makes `import cv2` raise ImportError
    with pytest.raises(ImportError, match="pip install opencv-python-headless"):
        run_baseline("telea", _images(1, 16, 16), make_mask("center", 16))


# --- CLI -----------------------------------------------------------------------------------------

def test_cli_lists_every_baseline():
    from inpaintkit.cli import main

    res = CliRunner().invoke(main, ["baselines"])
    assert res.exit_code == 0, res.output
    for name in BASELINES.list():
        assert f"\n{name} " in "\n" + res.output
