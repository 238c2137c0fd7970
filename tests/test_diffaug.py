"""DiffAugment: each transform does what the paper describes, is seeded, and passes gradients."""
from __future__ import annotations

import pytest
import torch

from inpaintkit.diffaug import DIFFAUG_POLICIES, diff_augment, parse_diffaug


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(b: int = 6, h: int = 31, w: int = 37) -> torch.Tensor:  # odd, non-square
    return torch.rand(b, 3, h, w, generator=_gen(99)) * 2 - 1


def test_parse_policy():
    assert parse_diffaug("color, translation,cutout") == ("color", "translation", "cutout")
    assert parse_diffaug("") == () and parse_diffaug(None) == ()
    with pytest.raises(ValueError, match="'blur'.*known: color, translation, cutout"):
        parse_diffaug("color,blur")
    with pytest.raises(ValueError, match="repeat"):
        parse_diffaug("color,color")


@pytest.mark.parametrize("name", list(DIFFAUG_POLICIES))
def test_seeded_shape_preserving_and_differentiable(name):
    x = _images().requires_grad_(True)
    a = diff_augment(x, [name], _gen(1))
    assert a.shape == x.shape and torch.isfinite(a).all()
    assert torch.equal(a, diff_augment(x, [name], _gen(1)))
    assert not torch.equal(a, diff_augment(x, [name], _gen(2)))
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_translation_is_a_zero_padded_shift_of_at_most_an_eighth():
    x = _images(8, 32, 40)
    out = diff_augment(x, ["translation"], _gen(3))
    for i in range(len(x)):
        found = False
        for ty in range(-4, 5):
            for tx in range(-5, 6):
                want = torch.zeros_like(x[i])
                ys, yd = (slice(0, 32 - ty), slice(ty, 32)) if ty >= 0 else (slice(-ty, 32), slice(0, 32 + ty))
                xs, xd = (slice(0, 40 - tx), slice(tx, 40)) if tx >= 0 else (slice(-tx, 40), slice(0, 40 + tx))
                want[:, yd, xd] = x[i][:, ys, xs]
                found |= torch.equal(out[i], want)
        assert found, f"image {i} is not a shift within 1/8 of the side"


def test_cutout_zeroes_one_clipped_half_size_square_and_nothing_else():
    x = _images(16, 32, 32).abs() + 0.1            # no zeros of its own
    out = diff_augment(x, ["cutout"], _gen(4))
    for i in range(len(x)):
        hole = (out[i] == 0).all(0)
        assert torch.equal(out[i][:, ~hole], x[i][:, ~hole])
        rows, cols = hole.any(1).nonzero().flatten(), hole.any(0).nonzero().flatten()
        assert len(rows) <= 16 and len(cols) <= 16 and hole.sum() == len(rows) * len(cols)
        full = rows.min() > 0 and rows.max() < 31 and cols.min() > 0 and cols.max() < 31
        assert not full or (len(rows), len(cols)) == (16, 16)


def test_color_on_a_flat_grey_image_is_only_a_brightness_shift():
    # Saturation and contrast scale deviations from means; a flat image has none.
    x = torch.full((32, 3, 8, 8), 0.2)
    out = diff_augment(x, ["color"], _gen(5))
    shift = out - x
    assert torch.allclose(shift, shift[:, :1, :1, :1].expand_as(shift), atol=1e-6)
    assert shift.abs().max() <= 0.5 and shift.std() > 0.1


def test_bad_shape_and_unknown_name():
    with pytest.raises(ValueError, match="B, C, H, W"):
        diff_augment(torch.zeros(3, 8, 8), ["color"], _gen())
    with pytest.raises(ValueError, match="known"):
        diff_augment(torch.zeros(1, 3, 8, 8), ["flip"], _gen())
