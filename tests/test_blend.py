"""Blending: overlay and exact Poisson, against an independent dense solve."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inpaintkit.blend import blend, overlay, poisson_blend
from inpaintkit.masks import MaskError, make_mask


def dense_poisson(y: np.ndarray, g: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Pérez et al. Eq. 7, written pixel by pixel with a dense matrix: (C, H, W) arrays."""
    h, w = known.shape
    holes = [(r, c) for r in range(h) for c in range(w) if not known[r, c]]
    where = {p: i for i, p in enumerate(holes)}
    a = np.zeros((len(holes), len(holes)))
    b = np.zeros((y.shape[0], len(holes)))
    for i, (r, c) in enumerate(holes):
        for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if not (0 <= rr < h and 0 <= cc < w):
                continue  # outside the image: not a neighbour (no wrap-around)
            a[i, i] += 1
            b[:, i] += g[:, r, c] - g[:, rr, cc]
            if known[rr, cc]:
                b[:, i] += y[:, rr, cc]
            else:
                a[i, where[(rr, cc)]] -= 1
    out = y.copy()
    sol = np.linalg.solve(a, b.T).T
    for i, (r, c) in enumerate(holes):
        out[:, r, c] = sol[:, i]
    return out


def _images(b, h, w, seed=0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.rand(b, 3, h, w, generator=gen) * 1.6 - 0.8
    g = torch.rand(b, 3, h, w, generator=gen) * 1.6 - 0.8
    return y, g


BORDER_MASKS = ["left", "right", "top", "bottom", "center", "random:0.5", "blocks:6"]


@pytest.mark.parametrize("spec", BORDER_MASKS)
def test_poisson_matches_dense_solve(spec, odd_size):
    h, w = odd_size
    y, g = _images(2, h, w)
    mask = make_mask(spec, (h, w), seed=3, batch=2)
    y_nan = torch.where(mask > 0, y, float("nan"))
    out = poisson_blend(y_nan, g, mask, clip=False)
    for i in range(2):
        ref = dense_poisson(y[i].double().numpy(), g[i].double().numpy(), mask[i, 0].numpy() > 0)
        np.testing.assert_allclose(out[i].numpy(), ref, atol=2e-6)


def test_masks_touching_every_border_at_once(odd_size):
    h, w = odd_size
    mask = torch.ones(1, 1, h, w)
    mask[..., 0, 3:9] = 0       # top edge
    mask[..., -1, 5:] = 0       # bottom edge, into the right corner
    mask[..., 4:20, 0] = 0      # left edge
    mask[..., 10:, -1] = 0      # right edge
    mask[..., 15:22, 10:17] = 0
    y, g = _images(3, h, w, seed=1)
    out = poisson_blend(y, g, mask, clip=False)
    for i in range(3):
        ref = dense_poisson(y[i].double().numpy(), g[i].double().numpy(), mask[0, 0].numpy() > 0)
        np.testing.assert_allclose(out[i].numpy(), ref, atol=2e-6)


@pytest.mark.parametrize("method", ["poisson", "overlay"])
def test_known_pixels_bit_identical_and_hole_never_read(method, odd_size):
    h, w = odd_size
    y, g = _images(4, h, w, seed=2)
    mask = make_mask("random:0.6", (h, w), seed=0, batch=4)
    out = blend(y, g, mask, method=method)
    assert out.dtype == y.dtype and out.shape == y.shape
    assert torch.equal(out[mask.expand_as(y) > 0], y[mask.expand_as(y) > 0])
    for fill in (float("nan"), 1e9):
        y2 = torch.where(mask > 0, y, torch.full_like(y, fill))
        assert torch.equal(blend(y2, g, mask, method=method), out)
    assert out.min() >= -1 and out.max() <= 1


def test_overlay_is_the_composite(odd_size):
    y, g = _images(2, *odd_size)
    mask = make_mask("center", odd_size, batch=2)
    torch.testing.assert_close(overlay(y, g, mask), mask * y + (1 - mask) * g, rtol=0, atol=0)


def test_no_wrap_around_rows():
    # Left half missing: a wrapping solver would couple pixel (r, 0) to (r-1, W-1). The right-most
    # column is far from the hole, so changing it must leave the fill unchanged.
    h, w = 31, 37
    y, g = _images(1, h, w, seed=4)
    mask = make_mask("left", (h, w))
    out = poisson_blend(y, g, mask, clip=False)
    y2 = y.clone()
    y2[..., -1] = 0.9
    out2 = poisson_blend(y2, g, mask, clip=False)
    hole = (mask == 0).expand_as(y)
    assert torch.equal(out[hole], out2[hole])
    # ... and a change at the hole's border does change the fill (the test can fail)
    y3 = y.clone()
    y3[..., w // 2] = 0.9
    assert not torch.equal(poisson_blend(y3, g, mask, clip=False)[hole], out[hole])


def test_poisson_reproduces_g_when_it_fits_the_boundary():
    # If g equals y on the known pixels, g itself solves the system: the blend returns g.
    h, w = 20, 23
    _, g = _images(2, h, w, seed=5)
    mask = make_mask("blocks:3", (h, w), seed=1, batch=2)
    torch.testing.assert_close(poisson_blend(g, g, mask, clip=False), g, atol=1e-6, rtol=0)


def test_shared_and_per_image_masks_agree():
    y, g = _images(3, 16, 16, seed=6)
    one = make_mask("center", 16)
    torch.testing.assert_close(poisson_blend(y, g, one), poisson_blend(y, g, one.expand(3, -1, -1, -1)))


def test_bad_inputs_raise(odd_size):
    y, g = _images(2, *odd_size)
    mask = make_mask("center", odd_size, batch=2)
    with pytest.raises(KeyError, match="overlay, poisson"):
        blend(y, g, mask, method="laplace")
    with pytest.raises(ValueError, match="shape of y"):
        blend(y, g[..., :-1], mask)
    with pytest.raises(MaskError, match="binary"):
        blend(y, g, mask * 0.5)
    with pytest.raises(MaskError, match="no hole"):
        blend(y, g, torch.ones_like(mask))
    y_bad = y.clone()
    y_bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="known pixels"):
        blend(y_bad, g, mask)
    g_bad = g.clone()
    g_bad[1, 2, 5, 5] = float("inf")
    with pytest.raises(ValueError, match="NaN/inf"):
        blend(y, g_bad, mask)
