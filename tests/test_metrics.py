"""PSNR / SSIM, full image and hole: hand-computed values, scikit-image called directly, bad inputs."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inpaintkit import metrics as M
from inpaintkit.utils import from_uint8, to_uint8

WANG = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
            channel_axis=-1)


def _center_known(h: int = 64, w: int = 64) -> np.ndarray:
    m = np.ones((h, w), bool)
    m[h // 4: h // 4 + h // 2, w // 4: w // 4 + w // 2] = False
    return m


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    # an odd non-square size catches transposed axes
    a = rng.integers(0, 256, (3, 37, 31, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    return a, b


# --- hand-computed values --------------------------------------------------------------------------

def test_psnr_hand_values():
    t = np.zeros((1, 16, 16, 3), np.uint8)
    assert M.psnr(np.full_like(t, 255), t, 255)[0] == pytest.approx(0.0)
    assert M.psnr(np.full_like(t, 1), t, 255)[0] == pytest.approx(10 * math.log10(255**2))
    half = t.copy()
    half[:, :8] = 10  # half the pixels off by 10 -> MSE 50
    assert M.psnr(half, t, 255)[0] == pytest.approx(10 * math.log10(255**2 / 50))
    assert M.psnr(t, t, 255)[0] == math.inf


def test_hole_psnr_hand_values():
    known = _center_known()
    t = np.full((1, 64, 64, 3), 100, np.uint8)
    p = t.copy()
    p[0][~known] = 116  # off by 16 in the hole only
    assert M.hole_psnr(p, t, known, 255)[0] == pytest.approx(10 * math.log10(255**2 / 256))
    # the full image dilutes it: a quarter of the pixels -> MSE 64
    assert M.psnr(p, t, 255)[0] == pytest.approx(10 * math.log10(255**2 / 64))
    # the known pixels do not count in the hole: spoil them and nothing changes
    p2 = p.copy()
    p2[0][known] = 0
    assert M.hole_psnr(p2, t, known, 255)[0] == pytest.approx(M.hole_psnr(p, t, known, 255)[0])


def test_ssim_of_constant_images_matches_closed_form():
    # For constant images all variances vanish: SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 150 + c1) / (100**2 + 150**2 + c1)
    p = np.full((1, 32, 32, 3), 100, np.uint8)
    t = np.full((1, 32, 32, 3), 150, np.uint8)
    assert M.ssim(p, t, 255)[0] == pytest.approx(expected, rel=1e-12)
    assert M.hole_ssim(p, t, _center_known(32, 32), 255)[0] == pytest.approx(expected, rel=1e-12)
    assert M.ssim(t, t, 255)[0] == pytest.approx(1.0)


def test_hole_ssim_ignores_known_pixels_far_from_the_hole():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    known = _center_known()
    assert M.hole_ssim(t, t, known, 255)[0] == pytest.approx(1.0)
    p = t.copy()
    p[0][~known] = 255 - p[0][~known]
    v = M.hole_ssim(p, t, known, 255)[0]
    assert v < 0.5
    # the full-image value is diluted by the untouched known pixels
    assert M.ssim(p, t, 255)[0] > v


# --- against scikit-image called directly -----------------------------------------------------------

def test_psnr_matches_skimage(pair):
    a, b = pair
    ours = M.psnr(a, b, 255)
    ref = [peak_signal_noise_ratio(y, x, data_range=255) for x, y in zip(a, b)]
    np.testing.assert_allclose(ours, ref, rtol=1e-12)


def test_ssim_matches_skimage(pair):
    a, b = pair
    ours = M.ssim(a, b, 255)
    ref = [structural_similarity(y, x, **WANG) for x, y in zip(a, b)]
    np.testing.assert_allclose(ours, ref, rtol=1e-12)


def test_hole_metrics_match_skimage_and_numpy(pair):
    a, b = pair
    rng = np.random.default_rng(2)
    known = rng.random((3, 37, 31)) > 0.7
    ours_p = M.hole_psnr(a, b, known, 255)
    ours_s = M.hole_ssim(a, b, known, 255)
    for i in range(3):
        hole = ~known[i]
        diff = a[i].astype(float) - b[i].astype(float)
        mse = (diff[hole] ** 2).mean()
        assert ours_p[i] == pytest.approx(10 * math.log10(255**2 / mse), rel=1e-12)
        _, smap = structural_similarity(b[i], a[i], full=True, **WANG)
        assert ours_s[i] == pytest.approx(smap[hole].mean(), rel=1e-12)


def test_data_range_is_explicit_and_used():
    rng = np.random.default_rng(3)
    a = rng.random((1, 20, 20, 3))
    b = rng.random((1, 20, 20, 3))
    np.testing.assert_allclose(M.psnr(a, b, 1.0), [peak_signal_noise_ratio(b[0], a[0], data_range=1.0)])
    ref = structural_similarity(b[0], a[0], **{**WANG, "data_range": 1.0})
    np.testing.assert_allclose(M.ssim(a, b, 1.0), [ref])


def test_inpainting_metrics_scores_uint8_of_tensors(pair):
    a, b = pair
    x, y = from_uint8(a), from_uint8(b)
    mask = torch.from_numpy(_center_known(37, 31).astype(np.float32))[None, None]
    out = M.inpainting_metrics(x, y, mask)
    np.testing.assert_allclose(out["psnr"], M.psnr(a, b, 255))
    np.testing.assert_allclose(out["ssim"], M.ssim(a, b, 255))
    np.testing.assert_allclose(out["psnr_hole"], M.hole_psnr(a, b, _center_known(37, 31), 255))
    np.testing.assert_allclose(out["ssim_hole"], M.hole_ssim(a, b, _center_known(37, 31), 255))
    # the modules agree with the functions
    np.testing.assert_allclose(M.PSNR()(x, y).numpy(), out["psnr"])
    np.testing.assert_allclose(M.SSIM("hole")(x, y, mask).numpy(), out["ssim_hole"])
    np.testing.assert_allclose(M.PSNR("hole")(x, y, mask).numpy(), out["psnr_hole"])


def test_tensor_metrics_round_through_to_uint8():
    # 0.4 of a grey level off rounds back to the same uint8 image: PSNR is inf, as for a PNG.
    a = np.random.default_rng(4).integers(0, 255, (1, 16, 16, 3), dtype=np.uint8)
    x = from_uint8(a)
    assert np.array_equal(to_uint8(x + 0.4 * 2 / 255), a)
    assert M.PSNR()(x + 0.4 * 2 / 255, x)[0] == math.inf


def test_registry_lists_the_metrics():
    assert M.list_metrics() == ["l1", "l1_hole", "psnr", "psnr_hole", "ssim", "ssim_hole"]


def test_l1_hand_values(odd_size):
    h, w = odd_size
    t = np.zeros((2, h, w, 3), np.uint8)
    p = t.copy()
    p[0] = 51                       # every channel off by 51 = 0.2 of the range
    known = _center_known(h, w)
    p[1][~known] = 255              # only the hole off, by the whole range
    full = M.l1(p, t, 255)
    assert full[0] == pytest.approx(0.2)
    assert full[1] == pytest.approx((~known).mean())
    hole = M.hole_l1(p, t, known, 255)
    assert hole[0] == pytest.approx(0.2) and hole[1] == pytest.approx(1.0)
    assert M.l1(t, t, 255)[0] == 0.0
    out = M.inpainting_metrics(from_uint8(p), from_uint8(t), torch.from_numpy(known)[None, None].float())
    np.testing.assert_allclose(out["l1"], full)
    np.testing.assert_allclose(out["l1_hole"], hole)
    with pytest.raises(ValueError, match="no hole"):
        M.hole_l1(p, t, np.ones((h, w), bool), 255)


# --- bad inputs ----------------------------------------------------------------------------------

def test_bad_inputs_raise():
    a = np.zeros((2, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="differ in shape"):
        M.psnr(a, a[:1], 255)
    with pytest.raises(ValueError, match="outside"):
        M.psnr(a.astype(float) + 300, a, 255)
    with pytest.raises(ValueError, match="data_range"):
        M.psnr(a, a, 0)
    with pytest.raises(ValueError, match="NaN"):
        M.psnr(np.full((16, 16, 3), np.nan), a[0], 255)
    with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
        M.psnr(np.zeros((16, 16)), np.zeros((16, 16)), 255)
    with pytest.raises(TypeError, match="NHWC"):
        M.psnr(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16), 255)
    with pytest.raises(ValueError, match="no hole"):
        M.hole_psnr(a, a, np.ones((16, 16), bool), 255)
    with pytest.raises(ValueError, match="matching images"):
        M.hole_psnr(a, a, np.ones((8, 8), bool), 255)
    with pytest.raises(ValueError, match="binary"):
        M.hole_psnr(a, a, np.full((16, 16), 0.5), 255)
    with pytest.raises(ValueError, match="11x11"):
        M.ssim(np.zeros((1, 8, 8, 3), np.uint8), np.zeros((1, 8, 8, 3), np.uint8), 255)
    with pytest.raises(ValueError, match="needs the mask"):
        M.PSNR("hole")(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match="region"):
        M.SSIM("border")
    with pytest.raises(ValueError, match="NaN"):
        M.PSNR()(torch.full((1, 3, 16, 16), float("nan")), torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        M.inpainting_metrics(torch.zeros(3, 16, 16), torch.zeros(3, 16, 16), torch.ones(1, 1, 16, 16))


# --- LPIPS: never downloads ----------------------------------------------------------------------------

def test_lpips_without_backbone_weights_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(M.LPIPSUnavailable, match="never downloads") as e:
        M.lpips(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32))
    assert str(tmp_path / "hub" / "checkpoints" / "alexnet-") in str(e.value)


def test_lpips_with_weights_on_disk(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = M.lpips_weights_path("squeeze")
    path.parent.mkdir(parents=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(), path)  # stands in for ImageNet's
    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 3, 37, 31, generator=gen) * 2 - 1, torch.rand(3, 3, 37, 31, generator=gen) * 2 - 1
    same, other = M.lpips(a, a, net="squeeze"), M.lpips(a, b, net="squeeze")
    assert same.shape == (3,) and np.allclose(same, 0.0) and (other > 0).all()
    M._LPIPS_NETS.clear()  # the cached network was built from the stand-in weights
