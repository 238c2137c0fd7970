"""The Stanford Cars models committed in benchmarks/models/stanford-cars-64/: they load safely, are
what their notes say, and (slow, with the real data) classify as well as the notes claim."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from classifiers import load_feature_network
from inpaintkit.models import load_gan

M = Path(__file__).resolve().parents[1] / "benchmarks" / "models" / "stanford-cars-64"


@pytest.mark.parametrize("name", ["gan-stanford-cars-64.pt", "gan-stanford-cars-64-v2.pt"])
def test_gan_loads_as_dcgan_64(name):
    g, d, ckpt = load_gan(M / name)
    assert ckpt["arch"] == "dcgan_64" and ckpt["config"]["ngf"] == 64
    with torch.no_grad():
        x = g(torch.zeros(2, 100))
        assert x.shape == (2, 3, 64, 64) and torch.isfinite(x).all() and x.abs().max() <= 1
        assert d(x).shape[0] == 2


@pytest.mark.parametrize("name, layers", [("classifier-googlenet.pt", ["inception3b", "inception4b"]),
                                          ("classifier-googlenet-masked.pt", ["inception3b", "inception4b"]),
                                          ("evaluator-resnet18.pt", None)])
def test_classifiers_load_with_196_classes(name, layers):
    net = load_feature_network(M / name)
    layers = layers or list(net.default_layers)
    feats, logits = net(torch.zeros(2, 3, 64, 64), layers)
    assert logits.shape == (2, 196) and set(feats) == set(layers)
    assert not any(p.requires_grad for p in net.parameters())


@pytest.mark.slow
@pytest.mark.parametrize("name, at_least", [("classifier-googlenet.pt", 0.70), ("evaluator-resnet18.pt", 0.55),
                                            ("classifier-googlenet-masked.pt", 0.68)])
def test_classifier_accuracy_on_real_val(data_root, name, at_least):
    x, y = _last_val_images(data_root)
    # notes: 0.805 / 0.642 / 0.782 top-1 on all 2000; 300 images leave about +-0.05 of sampling noise
    assert _top1(M / name, x, y) >= at_least


def _last_val_images(data_root: Path) -> tuple[torch.Tensor, np.ndarray]:
    path = data_root / "stanford-cars-64" / "val.npz"
    if not path.is_file():
        pytest.skip(f"no real data at {path}")
    with np.load(path) as f:  # the last 300 images: disjoint from the benchmark's first 200
        x, y = f["images"][-300:], f["labels"][-300:].astype(np.int64)
    return torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1, y


def _top1(ckpt: Path, x: torch.Tensor, y: np.ndarray) -> float:
    net = load_feature_network(ckpt)
    with torch.no_grad():
        pred = torch.cat([net(x[i:i + 100], [])[1].argmax(1) for i in range(0, len(x), 100)])
    return float((pred.numpy() == y).mean())


@pytest.mark.slow
def test_masked_classifier_names_cars_with_a_center_hole_better(data_root):
    """The point of --mask-augment: with the centre zeroed (the losses' M*y), the fine-tuned
    GoogLeNet is right clearly more often than the recipe one it started from."""
    from classifiers.augment import hole_masks

    x, y = _last_val_images(data_root)
    x = x * hole_masks(["center"], 64, list(range(len(x))))
    masked, recipe = _top1(M / "classifier-googlenet-masked.pt", x, y), _top1(M / "classifier-googlenet.pt", x, y)
    assert masked >= recipe + 0.05, (masked, recipe)
