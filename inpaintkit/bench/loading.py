"""The data and models of a run: tiny random models for a dry run, else the files of the resolved
config (:func:`~inpaintkit.bench.assets.with_model_paths` fills in the bundled ones); every model
file is identified by a hash of its content for the rows."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .config import BenchError, ResolvedBench
from .plan import hash_seed


@dataclass
class Models:
    """The networks of a run (``None`` where no method needs one) and their files' content ids."""

    generator: Any = None
    discriminator: Any = None
    feature_net: Any = None
    evaluator: Any = None
    pool: Any = None
    ce: Any = None
    ids: dict[str, str] = field(default_factory=dict)  # content ids of the model files


def _file_id(path: str | os.PathLike) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def load_models(rb: ResolvedBench, data, device: torch.device) -> Models:
    """The networks the methods need, loaded on ``device`` (tiny random ones for a dry run)."""
    cfg = rb.config
    models = Models()
    size = data.image_size
    num_classes = data.num_classes
    if rb.mode == "dry-run":
        from ..features import TinyFeatureNet
        from ..models import create_model

        torch.manual_seed(hash_seed("dry-run-models", cfg.seed))
        g, d = create_model("dcgan_test")
        models.generator, models.discriminator = g.to(device).eval(), d.to(device).eval()
        k = num_classes or 10
        models.feature_net = TinyFeatureNet(k).freeze().to(device)
        models.evaluator = TinyFeatureNet(k, width=6).freeze().to(device)
        models.ids = {"gan": f"dry-run:dcgan_test:{cfg.seed}", "classifier": "dry-run:tiny",
                      "eval_classifier": "dry-run:tiny-eval"}
        return models
    if rb.needs_gan:
        from ..models import CheckpointError, load_gan

        try:
            models.generator, models.discriminator, _ = load_gan(cfg.gan, image_size=size,
                                                                 device=device)
        except (CheckpointError, FileNotFoundError) as e:
            raise BenchError(f"--gan: {e}") from e
        models.ids["gan"] = _file_id(cfg.gan)
    if rb.needs_classifier:
        models.feature_net = _load_classifier(cfg.classifier, "--classifier", size, device)
        models.ids["classifier"] = _file_id(cfg.classifier)
    if cfg.eval_classifier:
        if cfg.classifier and Path(cfg.classifier).resolve() == Path(cfg.eval_classifier).resolve():
            raise BenchError("--eval-classifier must be an independent classifier, not the one "
                             "behind the sem/cat losses (--classifier); see SPEC.md")
        models.evaluator = _load_classifier(cfg.eval_classifier, "--eval-classifier", size, device)
        models.ids["eval_classifier"] = _file_id(cfg.eval_classifier)
        if "classifier" in models.ids and models.ids["classifier"] == models.ids["eval_classifier"]:
            raise BenchError("--eval-classifier is the same file as --classifier; semantic "
                             "accuracy needs an independent evaluator")
        if num_classes is not None and models.evaluator.num_classes != num_classes:
            raise BenchError(f"--eval-classifier predicts {models.evaluator.num_classes} classes "
                             f"but the data has {num_classes}")
    return models


def _load_classifier(path: str | None, option: str, size: int, device: torch.device):
    if path is None:
        raise BenchError(f"the sem/cat losses need a classifier: pass {option} CKPT")
    from classifiers import load_feature_network

    try:
        return load_feature_network(path, device=device, image_size=size)
    except FileNotFoundError as e:
        raise BenchError(f"{option}: {e}") from e
    except ValueError as e:  # CheckpointError and friends
        raise BenchError(f"{option}: {e}") from e


def load_data(rb: ResolvedBench):
    """The benchmark images, and how many of them run (``--n`` from ``--start``, checked)."""
    from ..data import DatasetError, build_dataset

    cfg = rb.config
    size = None
    if rb.mode == "dry-run":
        size = 32  # dcgan_test
        spec = cfg.data or f"synthetic-cars:{max(cfg.n or 4, 4)}"
    else:
        spec = cfg.data
        if rb.mode == "demo" and rb.needs_gan:
            from ..models import read_checkpoint

            size = int(read_checkpoint(cfg.gan)["config"]["image_size"])
    try:
        data = build_dataset(spec, split=cfg.split, image_size=size, flip=False, seed=0)
    except KeyError as e:
        raise BenchError(f"--data {spec!r}: {e.args[0]}") from e
    except (DatasetError, FileNotFoundError) as e:
        raise BenchError(f"--data {spec!r}: {e}") from e
    avail = len(data) - cfg.start
    if avail < 1:
        raise BenchError(f"--start {cfg.start} but the {cfg.split} split of {spec} has only "
                         f"{len(data)} images")
    n = avail if cfg.n is None else cfg.n
    if n > avail:
        raise BenchError(f"--n {n} but the {cfg.split} split of {spec} has only {len(data)} images"
                         + (f", {avail} from --start {cfg.start}" if cfg.start else ""))
    return data, n


def load_pool(rb: ResolvedBench, size: int):
    """The training images the ``nn`` baseline copies from (``--pool``, else the data's train split)."""
    from ..data import DatasetError, build_dataset

    cfg = rb.config
    spec = cfg.pool
    if spec is None:
        if cfg.data is None or cfg.data.startswith("npz:"):
            raise BenchError("the nn baseline needs --pool SPEC: the training images to copy from "
                             "(an npz file is its own split, so the test data cannot be the pool)")
        spec = cfg.data
    elif cfg.data and spec == cfg.data and spec.startswith("npz:"):
        raise BenchError("--pool must not be the benchmark data itself (nn would find each image)")
    try:
        return build_dataset(spec, split="train", image_size=size, flip=False, seed=0)
    except (DatasetError, FileNotFoundError, KeyError) as e:
        raise BenchError(f"--pool {spec!r}: {e}") from e


def load_ce(rb: ResolvedBench, size: int, device: torch.device):
    """The Context Encoder of the ``ce`` baseline: ``--ce``, else the bundled one on synthetic-cars
    (the demo), else a tiny random one in a dry run. Returns ``(model, content id)``."""
    from ..baselines import ContextEncoder, ContextEncoderConfig, load_context_encoder
    from ..models import CheckpointError

    cfg = rb.config
    if rb.mode == "dry-run" and cfg.ce is None:
        torch.manual_seed(hash_seed("dry-run-ce", cfg.seed))
        net = ContextEncoder(ContextEncoderConfig(image_size=size, nef=8, ngf=8)).to(device).eval()
        return net, f"dry-run:ce:{cfg.seed}"
    path = cfg.ce  # the bundled one on synthetic-cars: with_model_paths filled it in
    if path is None:
        raise BenchError("the ce baseline needs --ce CKPT, a Context Encoder trained on this "
                         "data with 'inpaintkit train-context-encoder' (Stanford Cars: "
                         "benchmarks/models/stanford-cars-64/context-encoder.pt)")
    try:
        net, _ = load_context_encoder(path, device=device)
    except (CheckpointError, FileNotFoundError) as e:
        raise BenchError(f"--ce: {e}") from e
    if net.config.image_size != size:
        raise BenchError(f"--ce {path} was trained on {net.config.image_size}x"
                         f"{net.config.image_size} images, but the data is {size}x{size}")
    return net, _file_id(path)
