"""Masks: every registered generator, spec strings, PNG masks, and the validator's errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintkit.masks import MASKS, MaskError, make_mask, parse_mask_spec, validate_mask


@pytest.mark.parametrize("name", MASKS.list())
def test_every_mask_is_valid_seeded_and_sized(name, odd_size):
    m = make_mask(name, odd_size, seed=3, batch=3)
    assert m.shape == (3, 1, *odd_size) and m.dtype == torch.float32
    assert set(m.unique().tolist()) == {0.0, 1.0}
    assert (m.flatten(1).min(1).values == 0).all() and (m.flatten(1).max(1).values == 1).all()
    assert torch.equal(m, make_mask(name, odd_size, seed=3, batch=3))  # same seed, same masks
    assert torch.equal(m[1:2], make_mask(name, odd_size, seed=4))      # image i gets seed + i


def test_center_is_the_quarter_square():
    m = make_mask("center", 64)[0, 0]
    hole = (m == 0).nonzero()
    assert hole[:, 0].min() == 16 and hole[:, 0].max() == 47
    assert hole[:, 1].min() == 16 and hole[:, 1].max() == 47 and len(hole) == 32 * 32


@pytest.mark.parametrize("side, region", [
    ("left", (slice(None), slice(0, 32))), ("right", (slice(None), slice(32, 64))),
    ("top", (slice(0, 32), slice(None))), ("bottom", (slice(32, 64), slice(None))),
])
def test_halves(side, region):
    m = make_mask(side, 64)[0, 0]
    assert (m[region] == 0).all() and m.sum() == 64 * 32


def test_half_picks_one_of_the_four_by_seed():
    halves = {s: make_mask(s, 16) for s in ("left", "right", "top", "bottom")}
    seen = set()
    for seed in range(12):
        m = make_mask("half", 16, seed=seed)
        match = [s for s, h in halves.items() if torch.equal(h, m)]
        assert len(match) == 1
        seen.add(match[0])
    assert len(seen) >= 3


def test_random_drop_probability_and_spec():
    assert parse_mask_spec("random:0.7") == ("random", [0.7])
    m = make_mask("random:0.7", 64, batch=8)
    assert abs(1 - m.mean().item() - 0.7) < 0.02
    m = make_mask("random", 64, batch=8)
    assert abs(1 - m.mean().item() - 0.8) < 0.02  # Yeh et al.'s default
    assert not torch.equal(make_mask("random", 32, seed=0), make_mask("random", 32, seed=1))


def test_blocks_count():
    one = make_mask("blocks:1", 64, seed=0)[0, 0]
    rows, cols = (one == 0).nonzero().unbind(1)
    # a single block is a filled rectangle
    assert (one[rows.min():rows.max() + 1, cols.min():cols.max() + 1] == 0).all()


def test_png_mask_is_read_and_resized(tmp_path, odd_size):
    h, w = odd_size
    a = np.full((2 * h, 2 * w), 255, np.uint8)
    a[:, : 2 * 10] = 0
    a[:2, -2:] = 0
    Image.fromarray(a).save(tmp_path / "m.png")
    m = make_mask(str(tmp_path / "m.png"), odd_size, batch=2)
    assert m.shape == (2, 1, h, w)
    assert (m[:, :, :, :10] == 0).all() and m[0, 0, 0, -1] == 0 and m[0, 0, 1:, 10:].all()


def test_png_mask_that_is_grey_or_of_another_aspect_is_rejected(tmp_path):
    a = np.full((32, 32), 255, np.uint8)
    a[8:24, 8:24] = 0
    a[0, 0] = 100  # a grey pixel: neither hole nor known
    Image.fromarray(a).save(tmp_path / "grey.png")
    with pytest.raises(MaskError, match="not binary.*grey levels such as \\[100\\]"):
        make_mask(str(tmp_path / "grey.png"), 32)
    a[0, 0] = 255
    Image.fromarray(a[:, :16]).save(tmp_path / "narrow.png")
    with pytest.raises(MaskError, match="16x32 but the images are 32x32"):
        make_mask(str(tmp_path / "narrow.png"), 32)


def test_mask_spec_errors(tmp_path):
    with pytest.raises(KeyError, match="unknown mask 'moon'.*center"):
        make_mask("moon", 32)
    with pytest.raises(MaskError, match="expected a number"):
        make_mask("random:lots", 32)
    with pytest.raises(MaskError, match=r"\(0, 1\)"):
        make_mask("random:1.5", 32)
    with pytest.raises(MaskError, match="at least one block"):
        make_mask("blocks:0", 32)
    with pytest.raises(FileNotFoundError, match="mask file not found"):
        make_mask(str(tmp_path / "nope.png"), 32)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(MaskError, match="cannot read mask image"):
        make_mask(str(tmp_path / "bad.png"), 32)
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "white.png")
    with pytest.raises(MaskError, match="no hole"):
        make_mask(str(tmp_path / "white.png"), 8)


def test_validate_mask_errors(odd_size):
    good = make_mask("center", odd_size, batch=2)
    assert validate_mask(good.bool(), odd_size, batch=2).dtype == torch.float32
    assert validate_mask(good[:1], odd_size, batch=5) is not None  # a single mask broadcasts
    with pytest.raises(MaskError, match="binary"):
        validate_mask(good * 0.5, odd_size)
    with pytest.raises(MaskError, match="binary"):
        validate_mask(torch.where(good > 0, float("nan"), 0.0))
    with pytest.raises(MaskError, match="mask 1 has no hole"):
        validate_mask(torch.cat([good[:1], torch.ones_like(good[:1])]))
    with pytest.raises(MaskError, match="no known pixel"):
        validate_mask(torch.zeros_like(good))
    with pytest.raises(MaskError, match="is 37x31 but the image is 31x37"):
        validate_mask(good, (31, 37))
    with pytest.raises(MaskError, match="batch 2 does not match image batch 3"):
        validate_mask(good, odd_size, batch=3)
    with pytest.raises(MaskError, match=r"shape \(B, 1, H, W\)"):
        validate_mask(good[:, 0])
    with pytest.raises(MaskError, match="torch.Tensor"):
        validate_mask(good.numpy())
