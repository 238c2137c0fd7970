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


# --- LaMa-style masks ------------------------------------------------------------------------------------

def test_lama_masks_grow_from_thin_to_thick_and_stay_under_half():
    from inpaintkit.masks import LAMA_CONFIGS, LAMA_MAX_HOLE

    # the configs' parameters as LaMa states them at 256 px (random_{thin,medium,thick}_256.yaml)
    assert LAMA_CONFIGS["thin"]["irregular"]["max_width"] == 10 and LAMA_CONFIGS["thin"]["box"]["proba"] == 0
    assert LAMA_CONFIGS["medium"]["irregular"]["max_width"] == 50
    assert LAMA_CONFIGS["thick"]["irregular"]["max_width"] == 100
    holes = {k: 1 - make_mask(k, 64, seed=0, batch=40).mean(dim=(1, 2, 3)) for k in ("thin", "medium", "thick")}
    assert holes["thin"].mean() < holes["medium"].mean() < holes["thick"].mean() + 0.05
    assert all(float(h.max()) <= LAMA_MAX_HOLE and float(h.min()) > 0 for h in holes.values())
    # strokes are thin relative to the image: a thin mask's hole is mostly 1-3 px wide lines
    thin = make_mask("thin", 256, seed=1)[0, 0] == 0
    interior = thin[1:-1, 1:-1] & thin[:-2, 1:-1] & thin[2:, 1:-1] & thin[1:-1, :-2] & thin[1:-1, 2:]
    assert interior.sum() < thin.sum()


# --- mask files: per-image sets and polarity ----------------------------------------------------------------

def _hole_at(k: int, size: int = 16) -> np.ndarray:
    m = np.ones((size, size), bool)
    m[k: k + 4, k: k + 4] = False
    return m


def test_npz_per_image_sets_and_polarity(tmp_path):
    from inpaintkit.masks import read_mask_file

    per_image = np.stack([_hole_at(k) for k in range(5)])
    np.savez(tmp_path / "m.npz", center=_hole_at(6), mine=per_image.astype(np.uint8))
    sets = read_mask_file(tmp_path / "m.npz")
    assert not sets["center"].per_image and sets["mine"].per_image
    assert np.array_equal(sets["mine"].for_images([3, 1]), per_image[[3, 1]])
    assert np.array_equal(sets["center"].for_images([0, 4])[1], _hole_at(6))
    with pytest.raises(MaskError, match="none for image 7"):
        sets["mine"].for_images([7])
    flipped = read_mask_file(tmp_path / "m.npz", polarity="hole")  # 1 = hole: the inverse
    assert np.array_equal(flipped["mine"].for_images([2])[0], ~per_image[2])
    np.savez(tmp_path / "bad.npz", m=per_image.astype(np.uint8) * 255)
    with pytest.raises(MaskError, match=r"values \[0, 255\]"):
        read_mask_file(tmp_path / "bad.npz")


def test_png_folder_by_index_or_by_file_name(tmp_path):
    from inpaintkit.masks import read_mask_file

    by_index = tmp_path / "by_index"
    by_index.mkdir()
    for k in (0, 1, 2):  # white = hole, as LaMa writes them
        Image.fromarray((~_hole_at(k)).astype(np.uint8) * 255).save(by_index / f"{k:06d}.png")
    s = read_mask_file(by_index, polarity="hole")["by_index"]
    assert np.array_equal(s.for_images([2, 0]), np.stack([_hole_at(2), _hole_at(0)]))
    by_name = tmp_path / "by_name"
    by_name.mkdir()
    Image.fromarray(_hole_at(3).astype(np.uint8) * 255).save(by_name / "car_a.png")
    s = read_mask_file(by_name)["by_name"]
    assert np.array_equal(s.for_images([9], stems=["car_a"])[0], _hole_at(3))
    Image.fromarray(np.full((16, 16), 128, np.uint8)).save(by_name / "grey.png")
    with pytest.raises(MaskError, match="grey"):
        read_mask_file(by_name)


def test_png_spec_polarity(tmp_path):
    hole_white = (~_hole_at(4)).astype(np.uint8) * 255
    Image.fromarray(hole_white).save(tmp_path / "m.png")
    known = make_mask(str(tmp_path / "m.png"), 16, polarity="hole")[0, 0].numpy() > 0.5
    assert np.array_equal(known, _hole_at(4))
    with pytest.raises(MaskError, match="polarity"):
        make_mask(str(tmp_path / "m.png"), 16, polarity="white")
