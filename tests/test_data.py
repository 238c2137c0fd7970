"""Datasets on tiny fixtures that the tests write: the official layouts, error cases, previews."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from inpaintkit.data import (
    ArrayDataset,
    DatasetError,
    build_dataset,
    center_crop,
    image_grid,
    list_datasets,
    read_image,
    save_preview,
)
from inpaintkit.data.celeba import CELEBA_CROP
from inpaintkit.data.stanford_cars import _bbox_crop, read_cars_annotations

RED, BLUE, GREEN = (220, 20, 20), (20, 20, 220), (20, 200, 20)


def _save(path: Path, array: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kw)
    return path


def _solid(h: int, w: int, colour) -> np.ndarray:
    return np.broadcast_to(np.asarray(colour, np.uint8), (h, w, 3)).copy()


# --- fixture writers, one per registered dataset --------------------------------------------------

CARS_CLASSES = ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "Audi TT Coupe 2012"]
# (fname, size (w, h), bbox x1, y1, x2, y2 (1-based inclusive), class (1-based))
CARS_TRAIN = [("00001.jpg", (48, 40), (9, 5, 40, 28), 1),
              ("00002.jpg", (64, 48), (1, 1, 64, 48), 2),
              ("00003.jpg", (40, 56), (5, 9, 36, 48), 3),
              ("00004.jpg", (56, 40), (17, 9, 48, 40), 2)]
CARS_TEST = [("00001.jpg", (48, 40), (9, 9, 40, 32), 3), ("00002.jpg", (40, 40), (9, 1, 32, 40), 1)]


def _annotations(rows, with_class: bool = True, drop: str | None = None) -> dict:
    """The devkit's layout: a (1, N) struct with (1, 1) numeric fields and a str fname."""
    names = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"] + (["class"] if with_class else [])
    names += ["fname"]
    names = [n for n in names if n != drop]
    ann = np.zeros((1, len(rows)), dtype=[(n, "O") for n in names])
    for i, (fname, _, box, cls) in enumerate(rows):
        values = dict(zip(["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"], box), fname=fname)
        values["class"] = cls
        for n in names:
            ann[0, i][n] = (np.array([values[n]]) if n == "fname"
                            else np.array([[values[n]]], np.uint16))
    return {"annotations": ann}


def _car_image(size, box) -> np.ndarray:
    """Blue background, red inside the 1-based inclusive bounding box."""
    w, h = size
    img = _solid(h, w, BLUE)
    x1, y1, x2, y2 = box
    img[y1 - 1:y2, x1 - 1:x2] = RED
    return img


def make_stanford_cars(root: Path, test_labels: bool = True) -> Path:
    (root / "devkit").mkdir(parents=True)
    meta = np.empty((1, len(CARS_CLASSES)), dtype=object)
    for i, n in enumerate(CARS_CLASSES):
        meta[0, i] = np.array([n])
    savemat(root / "devkit" / "cars_meta.mat", {"class_names": meta})
    savemat(root / "devkit" / "cars_train_annos.mat", _annotations(CARS_TRAIN))
    savemat(root / "devkit" / "cars_test_annos.mat", _annotations(CARS_TEST, with_class=False))
    if test_labels:
        savemat(root / "cars_test_annos_withlabels.mat", _annotations(CARS_TEST))
    for split, rows in (("train", CARS_TRAIN), ("test", CARS_TEST)):
        for fname, size, box, _ in rows:
            _save(root / f"cars_{split}" / fname, _car_image(size, box), quality=95, subsampling=0)
    # a greyscale JPEG, as some Stanford Cars images are
    grey = np.asarray(Image.fromarray(_car_image(*CARS_TRAIN[3][1:3])).convert("L"))
    Image.fromarray(grey).save(root / "cars_train" / CARS_TRAIN[3][0], quality=95, subsampling=0)
    return root


def make_folder(root: Path) -> Path:
    for i, cls in enumerate(["cat", "dog", "dog", "emu", "cat"]):
        _save(root / cls / "sub" / f"{i}.png" if i == 4 else root / cls / f"{i}.png",
              _solid(37, 31, (40 * i, 100, 200)))
    _save(root / "dog" / "2.jpg", _solid(31, 37, GREEN))
    (root / "dog" / ".hidden.png").write_bytes(b"not an image")
    (root / "notes.txt").write_text("not an image either")
    return root


def make_celeba(root: Path, partition: bool = True) -> Path:
    names = [f"{i:06d}.jpg" for i in range(1, 5)]
    for i, name in enumerate(names):
        img = _solid(218, 178, BLUE)
        top, left = (218 - CELEBA_CROP) // 2, (178 - CELEBA_CROP) // 2
        img[top:top + CELEBA_CROP, left:left + CELEBA_CROP] = (RED, GREEN, RED, GREEN)[i]
        _save(root / "img_align_celeba" / name, img, quality=95, subsampling=0)
    if partition:
        (root / "list_eval_partition.txt").write_text(
            "".join(f"{n} {p}\n" for n, p in zip(names, (0, 0, 1, 2))))
    return root


def make_svhn(root: Path) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 12), ("test", 5)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).reshape(n, 1).astype(np.uint8)       # 1..10, 10 = digit 0
        savemat(root / f"{split}_32x32.mat", {"X": x, "y": y})
    return root


def make_npz(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    path = root / "d.npz"
    np.savez(path, images=rng.integers(0, 256, (6, 40, 40, 3), dtype=np.uint8),
             labels=np.array([0, 1, 2, 0, 1, 2]), class_names=np.array(["a", "b", "c"]))
    return path


SPECS = {
    "stanford-cars": lambda tmp: f"stanford-cars:{make_stanford_cars(tmp / 'cars')}",
    "folder": lambda tmp: f"folder:{make_folder(tmp / 'folder')}",
    "celeba": lambda tmp: f"celeba:{make_celeba(tmp / 'celeba')}",
    "svhn": lambda tmp: f"svhn:{make_svhn(tmp / 'svhn')}",
    "npz": lambda tmp: f"npz:{make_npz(tmp / 'npz')}",
    "synthetic-cars": lambda tmp: "synthetic-cars:40",
}


def test_every_registered_dataset_has_a_fixture():
    assert set(list_datasets()) == set(SPECS), "add a fixture writer to SPECS for a new dataset"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_dataset_contract(name, tmp_path):
    spec = SPECS[name](tmp_path)
    ds = build_dataset(spec, split="train", image_size=24)
    assert isinstance(ds, ArrayDataset) and len(ds) > 0
    assert ds.images.dtype == np.uint8 and ds.images.shape[1:] == (24, 24, 3)
    assert ds.flip is True and build_dataset(spec, split="train", flip=False).flip is False
    if ds.labels is not None:
        assert ds.labels.shape == (len(ds),) and ds.labels.min() >= 0
        if ds.class_names is not None:
            assert ds.labels.max() < len(ds.class_names)
    x, y = ds[0]
    assert x.shape == (3, 24, 24) and x.dtype == torch.float32 and -1 <= x.min() <= x.max() <= 1
    xb, yb = ds.get_batch([0, len(ds) - 1], generator=torch.Generator().manual_seed(0))
    assert xb.shape == (2, 3, 24, 24) and yb.shape == (2,)
    assert len(ds.subset([0])) == 1
    assert "ArrayDataset(" in repr(ds) and len(repr(ds)) < 300


def test_flips_follow_the_split_and_the_generator():
    train = build_dataset("synthetic-cars:16", split="train")
    test = build_dataset("synthetic-cars:16", split="test")
    assert train.flip and not test.flip
    idx = np.arange(16)
    a, _ = train.get_batch(idx, generator=torch.Generator().manual_seed(3))
    b, _ = train.get_batch(idx, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    plain = torch.from_numpy(train.images).permute(0, 3, 1, 2).float() / 127.5 - 1
    flipped = [torch.allclose(a[i], plain[i].flip(-1)) and not torch.allclose(a[i], plain[i])
               for i in range(16)]
    assert 0 < sum(flipped) < 16


# --- stanford-cars --------------------------------------------------------------------------------

def test_stanford_cars_train(tmp_path):
    root = make_stanford_cars(tmp_path / "cars")
    ds = build_dataset(f"stanford-cars:{root}", split="train", flip=False)
    assert ds.images.shape == (4, 64, 64, 3)
    assert ds.labels.tolist() == [0, 1, 2, 1]                      # class - 1
    assert ds.class_names == CARS_CLASSES
    assert ds.extras["fname"].tolist() == [r[0] for r in CARS_TRAIN]
    # each crop is the red box: no blue background left, up to JPEG noise (greyscale for the fourth image)
    img = ds.images.astype(int)
    assert (np.abs(img[:3] - np.array(RED)).max(axis=-1) < 40).all()
    grey = np.asarray(Image.fromarray(np.array([[RED]], np.uint8)).convert("L"))[0, 0]
    assert np.abs(img[3] - int(grey)).max() < 30
    assert np.allclose(img[3, ..., 0], img[3, ..., 1], atol=2)      # grey came out as RGB


def test_stanford_cars_test_split_and_fallback(tmp_path):
    root = make_stanford_cars(tmp_path / "a")
    ds = build_dataset(f"stanford-cars:{root}", split="test", image_size=32)
    assert ds.images.shape == (2, 32, 32, 3) and ds.labels.tolist() == [2, 0] and not ds.flip
    # without cars_test_annos_withlabels.mat: devkit/cars_test_annos.mat, boxes but no labels
    root = make_stanford_cars(tmp_path / "b", test_labels=False)
    ds = build_dataset(f"stanford-cars:{root}", split="test")
    assert len(ds) == 2 and ds.labels is None
    # the annotation files may also sit in ROOT instead of ROOT/devkit
    root = make_stanford_cars(tmp_path / "c")
    for f in (root / "devkit").iterdir():
        f.rename(root / f.name)
    assert len(build_dataset(f"stanford-cars:{root}", split="train")) == 4


def test_bbox_crop_is_one_based_inclusive_and_clamped():
    img = np.arange(10 * 12).reshape(10, 12, 1).repeat(3, -1)
    crop = _bbox_crop(img, np.array([2, 3, 5, 4]), "x.jpg")        # x 2..5, y 3..4
    assert crop.shape == (2, 4, 3)
    assert crop[0, 0, 0] == img[2, 1, 0] and crop[-1, -1, 0] == img[3, 4, 0]
    assert _bbox_crop(img, np.array([0, 0, 99, 99]), "x.jpg").shape == (10, 12, 3)
    with pytest.raises(DatasetError, match="x.jpg"):
        _bbox_crop(img, np.array([6, 3, 5, 4]), "x.jpg")


def test_stanford_cars_errors_name_the_file(tmp_path):
    with pytest.raises(DatasetError, match="missing"):
        build_dataset(f"stanford-cars:{tmp_path / 'missing'}")
    with pytest.raises(DatasetError, match="needs a folder"):
        build_dataset("stanford-cars")
    root = make_stanford_cars(tmp_path / "cars")
    with pytest.raises(DatasetError, match="'train' and 'test'"):
        build_dataset(f"stanford-cars:{root}", split="val")
    # an unreadable image
    (root / "cars_train" / "00002.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(DatasetError, match="00002.jpg"):
        build_dataset(f"stanford-cars:{root}")
    # a missing image
    (root / "cars_train" / "00002.jpg").unlink()
    with pytest.raises(DatasetError, match="00002.jpg"):
        build_dataset(f"stanford-cars:{root}")
    # an annotation file without a field
    savemat(root / "devkit" / "cars_train_annos.mat", _annotations(CARS_TRAIN, drop="bbox_x2"))
    with pytest.raises(DatasetError, match=r"cars_train_annos\.mat.*bbox_x2"):
        build_dataset(f"stanford-cars:{root}")
    savemat(root / "devkit" / "cars_train_annos.mat", {"something_else": np.zeros(3)})
    with pytest.raises(DatasetError, match=r"cars_train_annos\.mat.*annotations"):
        build_dataset(f"stanford-cars:{root}")
    (root / "devkit" / "cars_train_annos.mat").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match=r"cars_train_annos\.mat"):
        build_dataset(f"stanford-cars:{root}")
    savemat(root / "devkit" / "cars_train_annos.mat", _annotations(CARS_TRAIN[:1]))
    savemat(root / "devkit" / "cars_meta.mat", {"class_names": np.empty((1, 0), dtype=object)})
    with pytest.raises(DatasetError, match="outside 1..0"):
        build_dataset(f"stanford-cars:{root}")
    (root / "devkit" / "cars_meta.mat").unlink()
    with pytest.raises(DatasetError, match="cars_meta.mat"):
        build_dataset(f"stanford-cars:{root}")


def test_fixture_matches_the_real_devkit_layout(tmp_path, data_root):
    """The test's savemat layout reads like the real devkit files (skips without the data)."""
    devkit = data_root / "stanford-cars-64" / "devkit"
    if not (devkit / "cars_train_annos.mat").is_file():
        pytest.skip(f"no Stanford Cars devkit under {data_root}")
    real = read_cars_annotations(devkit / "cars_train_annos.mat")
    savemat(tmp_path / "a.mat", _annotations(CARS_TRAIN))
    ours = read_cars_annotations(tmp_path / "a.mat")
    assert real.keys() == ours.keys()
    assert all(real[k].dtype.kind == ours[k].dtype.kind for k in real)
    assert real["bbox"].shape[1] == 4 and real["class"].min() >= 1 and real["class"].max() <= 196
    test = read_cars_annotations(devkit / "cars_test_annos.mat", need_class=False)
    assert "class" not in test and len(test["fname"]) == len(test["bbox"])


# --- folder ---------------------------------------------------------------------------------------

def test_folder_labels_from_subfolders(tmp_path):
    root = make_folder(tmp_path / "f")
    ds = build_dataset(f"folder:{root}")
    assert ds.class_names == ["cat", "dog", "emu"] and len(ds) == 6
    assert ds.extras["path"].tolist() == ["cat/0.png", "cat/sub/4.png", "dog/1.png", "dog/2.jpg",
                                          "dog/2.png", "emu/3.png"]
    assert ds.labels.tolist() == [0, 0, 1, 1, 1, 2]
    assert ds.image_size == 64


def test_folder_unlabelled_and_split_folders(tmp_path):
    flat = tmp_path / "flat"
    _save(flat / "a.png", _solid(20, 30, RED))
    _save(flat / "one" / "b.png", _solid(20, 30, RED))
    assert build_dataset(f"folder:{flat}").labels is None           # an image outside a class
    single = tmp_path / "single"
    _save(single / "only" / "a.png", _solid(20, 30, RED))
    assert build_dataset(f"folder:{single}").labels is None         # one class folder: no labels
    split = tmp_path / "split"
    _save(split / "train" / "x" / "a.png", _solid(9, 9, RED))
    _save(split / "train" / "y" / "b.png", _solid(9, 9, RED))
    _save(split / "test" / "x" / "c.png", _solid(9, 9, RED))
    assert len(build_dataset(f"folder:{split}", split="train")) == 2
    assert len(build_dataset(f"folder:{split}", split="test")) == 1
    with pytest.raises(DatasetError, match="no 'val'"):
        build_dataset(f"folder:{split}", split="val")


def test_folder_centre_crop(tmp_path):
    img = _solid(30, 50, RED)
    img[:, 10:40] = GREEN                                           # the centred 30x30 square
    _save(tmp_path / "c" / "a.png", img)
    ds = build_dataset(f"folder:{tmp_path / 'c'}", image_size=30)
    assert (ds.images[0] == np.array(GREEN, np.uint8)).all()


def test_center_crop_convention():
    img = np.zeros((218, 178, 3), np.uint8)
    img[55, 35] = 255                                               # DCGAN-tensorflow's offsets
    crop = center_crop(img, 108)
    assert crop.shape == (108, 108, 3) and crop[0, 0, 0] == 255
    assert center_crop(np.zeros((5, 8, 3)), None).shape == (5, 5, 3)
    odd = np.arange(7 * 4).reshape(7, 4, 1)
    assert center_crop(odd, 4)[0, 0, 0] == odd[2, 0, 0]             # (7 - 4) / 2 = 1.5 -> 2
    with pytest.raises(DatasetError, match="crop"):
        center_crop(img, 300)


def test_folder_errors_name_the_file(tmp_path):
    with pytest.raises(DatasetError, match="nowhere"):
        build_dataset(f"folder:{tmp_path / 'nowhere'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no image files"):
        build_dataset(f"folder:{tmp_path / 'empty'}")
    _save(tmp_path / "bad" / "ok.png", _solid(8, 8, RED))
    (tmp_path / "bad" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DatasetError, match="broken.png"):
        build_dataset(f"folder:{tmp_path / 'bad'}")
    with pytest.raises(DatasetError, match="missing.png"):
        read_image(tmp_path / "missing.png")


# --- celeba ---------------------------------------------------------------------------------------

def test_celeba_crop_and_partition(tmp_path):
    root = make_celeba(tmp_path / "celeba")
    train = build_dataset(f"celeba:{root}", split="train", flip=False)
    assert train.images.shape == (2, 64, 64, 3) and train.labels is None
    assert train.extras["fname"].tolist() == ["000001.jpg", "000002.jpg"]
    # the 108x108 centre crop is exactly the coloured square: no blue border
    assert (np.abs(train.images[0].astype(int) - np.array(RED)).max(-1) < 40).all()
    assert (np.abs(train.images[1].astype(int) - np.array(GREEN)).max(-1) < 40).all()
    assert build_dataset(f"celeba:{root}", split="val").extras["fname"].tolist() == ["000003.jpg"]
    assert build_dataset(f"celeba:{root}", split="test").extras["fname"].tolist() == ["000004.jpg"]


def test_celeba_without_partition_and_errors(tmp_path):
    root = make_celeba(tmp_path / "c", partition=False)
    assert len(build_dataset(f"celeba:{root}")) == 4
    with pytest.raises(DatasetError, match="list_eval_partition"):
        build_dataset(f"celeba:{root}", split="test")
    (root / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg seven\n")
    with pytest.raises(DatasetError, match=r"list_eval_partition\.txt, line 2"):
        build_dataset(f"celeba:{root}")
    (root / "list_eval_partition.txt").write_text("000001.jpg 0\n000009.jpg 0\n")
    with pytest.raises(DatasetError, match="000009.jpg"):
        build_dataset(f"celeba:{root}")
    with pytest.raises(DatasetError, match="img_align_celeba"):
        build_dataset(f"celeba:{tmp_path}")


# --- svhn -----------------------------------------------------------------------------------------

def test_svhn(tmp_path):
    root = make_svhn(tmp_path / "svhn")
    ds = build_dataset(f"svhn:{root}", split="train")
    x = __import__("scipy.io", fromlist=["loadmat"]).loadmat(root / "train_32x32.mat")["X"]
    assert ds.images.shape == (12, 32, 32, 3) and np.array_equal(ds.images[5], x[..., 5])
    assert ds.labels.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]   # 10 means the digit 0
    assert ds.class_names == [str(d) for d in range(10)]
    assert len(build_dataset(f"svhn:{root}", split="test")) == 5
    one_file = build_dataset(f"svhn:{root / 'test_32x32.mat'}", image_size=16)
    assert one_file.images.shape == (5, 16, 16, 3)
    with pytest.raises(DatasetError, match="'train' and 'test'"):
        build_dataset(f"svhn:{root}", split="val")


def test_svhn_errors_name_the_file(tmp_path):
    with pytest.raises(DatasetError, match="nothing.mat"):
        build_dataset(f"svhn:{tmp_path / 'nothing.mat'}")
    savemat(tmp_path / "train_32x32.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8)})
    with pytest.raises(DatasetError, match=r"train_32x32\.mat: no 'y'"):
        build_dataset(f"svhn:{tmp_path}")
    savemat(tmp_path / "train_32x32.mat", {"X": np.zeros((32, 32, 2), np.uint8), "y": np.ones(2)})
    with pytest.raises(DatasetError, match=r"train_32x32\.mat"):
        build_dataset(f"svhn:{tmp_path}")
    (tmp_path / "test_32x32.mat").write_bytes(b"not a mat file")
    with pytest.raises(DatasetError, match=r"test_32x32\.mat"):
        build_dataset(f"svhn:{tmp_path}", split="test")


# --- preview and CLI ------------------------------------------------------------------------------

def test_image_grid():
    imgs = np.stack([_solid(4, 5, (i, i, i)) for i in range(1, 6)])
    grid = image_grid(imgs, ncol=3, pad=1, pad_value=0)
    assert grid.shape == (2 * 5 + 1, 3 * 6 + 1, 3)
    assert (grid[1:5, 7:12] == 2).all() and (grid[6:10, 7:12] == 5).all() and grid[0].max() == 0
    with pytest.raises(ValueError, match="uint8"):
        image_grid(imgs.astype(np.float32))


def test_save_preview(tmp_path):
    ds = build_dataset("synthetic-cars:30")
    out = save_preview(ds, tmp_path / "sub" / "grid.png", n=12, seed=1)
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 100
    unlabelled = ArrayDataset(ds.images[:5], name="x")
    save_preview(unlabelled, tmp_path / "u.png", n=50)             # n larger than the dataset
    assert (tmp_path / "u.png").is_file()


def test_cli_data_list_and_preview(tmp_path):
    from click.testing import CliRunner

    from inpaintkit.cli import main

    runner = CliRunner()
    res = runner.invoke(main, ["data", "list"])
    assert res.exit_code == 0 and all(name in res.output for name in SPECS)
    out = tmp_path / "grid.png"
    res = runner.invoke(main, ["data", "preview", "--data", "synthetic-cars:40", "--split", "test",
                               "--n", "8", "--seed", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.is_file()
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["config"]["data"] == "synthetic-cars:40" and meta["config"]["split"] == "test"
    assert meta["config"]["class_names"][0] == "sedan" and "versions" in meta
    res = runner.invoke(main, ["data", "preview", "--data", f"folder:{tmp_path / 'none'}",
                               "--out", str(tmp_path / "x.png")])
    assert res.exit_code != 0 and "none" in res.output
    res = runner.invoke(main, ["data", "preview", "--data", "imagenet", "--out", str(out)])
    assert res.exit_code != 0 and "synthetic-cars" in res.output    # lists the known datasets
