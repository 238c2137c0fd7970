"""Evaluating a classifier checkpoint on a labelled dataset: top-1, top-5 and per-class accuracy."""
from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from inpaintkit.utils import (
    atomic_write_json,
    atomic_write_text,
    check_writable,
    resolve_device,
    run_metadata,
    warn_if_slow_bf16,
)

from ._checkpoint import load_classifier
from .features import Normalize

__all__ = ["evaluate_classifier"]


def evaluate_classifier(ckpt: str | os.PathLike, data_spec: str, out: str | os.PathLike | None = None,
                        device: str | torch.device | None = "cpu", batch_size: int = 256,
                        bf16: bool = False, seed: int = 0, masks: Sequence[str] = ()) -> dict[str, Any]:
    """Top-1/top-5 accuracy and mean cross-entropy of a classifier on a labelled dataset.

    The data is resized to the classifier's image size if needed, never flipped.

    Args:
        ckpt: a classifier checkpoint (``best.pt``).
        data_spec: a dataset spec with labels of the classifier's classes.
        out: optional CSV path for the per-class table (``class``, ``name``, ``n``, ``top1``,
            ``top5``); a ``.json`` summary with run metadata is written next to it.
        device: where to run.
        batch_size: evaluation batch size.
        bf16: bfloat16 autocast (faster on CPUs with AVX-512 BF16; accuracy may move slightly).
        seed: for generated datasets.
        masks: mask specs (``center``, ``random:0.7``...): also the top-1 with a hole of each, image
            ``i`` with the mask of seed ``i``, zero-filled as the losses' ``M*y``.

    Returns:
        ``{"top1", "top5", "loss", "n", "per_class": pandas.DataFrame, "masked_top1": {spec: top-1},
        ...}``.

    Raises:
        DatasetError: no labels, or labels beyond the classifier's classes.
    """
    import pandas as pd

    from inpaintkit.data import DatasetError, build_dataset

    from .train import evaluate_model

    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    if out is not None:
        check_writable(out, "--out", is_dir=False)
    dev = resolve_device(device)
    if bf16:
        warn_if_slow_bf16(dev, "eval-classifier --bf16")
    model, ck = load_classifier(ckpt, device=dev)
    cfg = ck["config"]
    k = int(cfg["num_classes"])
    ds = build_dataset(data_spec, "test", image_size=int(cfg["image_size"]), flip=False, seed=seed)
    if ds.labels is None:
        raise DatasetError(f"{data_spec}: no labels, so accuracy cannot be measured")
    if ds.labels.min() < 0 or ds.labels.max() >= k:
        raise DatasetError(f"{data_spec}: labels in [{ds.labels.min()}, {ds.labels.max()}] but the "
                           f"classifier has {k} classes")
    names = ck.get("class_names")
    if names and ds.class_names and list(names) != list(ds.class_names):
        raise DatasetError(f"{data_spec} names its classes differently from the classifier {ckpt}")
    norm = Normalize(cfg["mean"], cfg["std"]).to(dev)
    top1 = np.zeros(len(ds), dtype=bool)
    top5 = np.zeros(len(ds), dtype=bool)
    loss_sum = 0.0
    pos = 0
    from tqdm.auto import tqdm

    for logits, y in tqdm(evaluate_model(model, norm, ds, dev, batch_size, bf16), desc="evaluate",
                          total=(len(ds) + batch_size - 1) // batch_size, leave=False):
        top = logits.topk(min(5, k), dim=1).indices
        hit = (top == y[:, None]).cpu().numpy()
        top1[pos:pos + len(y)] = hit[:, 0]
        top5[pos:pos + len(y)] = hit.any(1)
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        pos += len(y)
    masked = {}
    for spec in masks:
        hit = sum(int((logits.argmax(1) == y).sum())
                  for logits, y in evaluate_model(model, norm, ds, dev, batch_size, bf16, hole_specs=(spec,)))
        masked[spec] = hit / len(ds)
    labels = ds.labels
    names = names or ds.class_names or [str(i) for i in range(k)]
    table = pd.DataFrame({"class": np.arange(k), "name": list(names)})
    counts = np.bincount(labels, minlength=k)
    table["n"] = counts
    with np.errstate(invalid="ignore", divide="ignore"):
        table["top1"] = np.bincount(labels, weights=top1, minlength=k) / counts
        table["top5"] = np.bincount(labels, weights=top5, minlength=k) / counts
    result = {"checkpoint": str(ckpt), "data": data_spec, "arch": ck["arch"], "n": int(len(ds)),
              "top1": float(top1.mean()), "top5": float(top5.mean()), "loss": loss_sum / len(ds),
              "per_class": table, "masked_top1": masked}
    if out is not None:
        out = Path(out)
        buf = io.StringIO()
        table.to_csv(buf, index=False, float_format="%.6g")
        atomic_write_text(out, buf.getvalue())
        summary = {k2: v for k2, v in result.items() if k2 != "per_class"}
        atomic_write_json(out.with_suffix(".json"),
                          {**summary, "meta": run_metadata({"checkpoint": str(ckpt), "data": data_spec,
                                                             "device": str(dev), "bf16": bf16, "seed": seed,
                                                             "masks": list(masks)})})
    return result
