"""Distribution metrics of a bench run's outputs: FD-R18 and KID per (method, mask).

PSNR, SSIM and L1 compare each output with its own ground truth; a distribution metric asks
whether the outputs, as a set, look like real images. As in LaMa's evaluation (FID of the
inpainted images against the real ones), the reference set is the ground truth of the same images,
and the features are those of :mod:`inpaintkit.quality`: the pooled deepest stage of an independent
evaluator classifier (FD-R18, never to be called FID; KID on the same features).

Computed from the outputs a run saved (``bench --save-images N``; ``-1`` keeps every image's), so
the report can score them without rerunning anything. With fewer images than feature channels the
covariances are rank-deficient and FD-R18 is biased upwards: compare methods within one run, and
prefer KID (unbiased) for small sets. Each row says how many images it used.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

__all__ = ["output_distribution", "resolve_evaluator"]


def resolve_evaluator(meta: dict[str, Any],
                      evaluator: str | os.PathLike | None = None) -> Path | None:
    """The evaluator checkpoint to score a run with: ``evaluator`` if given, else the run's own
    ``--eval-classifier`` when it is a file; None when there is none (a dry run's random one)."""
    if evaluator is not None:
        return Path(evaluator)
    path = (meta.get("config") or {}).get("eval_classifier")
    return Path(path) if path and Path(path).is_file() else None


def _images(run_dir: Path, files: Sequence[str], key: str) -> tuple[np.ndarray, np.ndarray]:
    ids, arrays = [], []
    for f in dict.fromkeys(files):
        p = run_dir / f
        if not p.is_file():
            continue
        with np.load(p, allow_pickle=False) as z:
            ids.append(z["ids"])
            arrays.append(z[key])
    if not ids:
        return np.zeros(0, np.int64), np.zeros((0, 1, 1, 3), np.uint8)
    return np.concatenate(ids), np.concatenate(arrays)


@torch.no_grad()
def output_distribution(run_dir: str | os.PathLike, df, evaluator: str | os.PathLike,
                        methods: Sequence[str] | None = None, masks: Sequence[str] | None = None,
                        device: str | torch.device = "cpu", kid_subsets: int = 100, seed: int = 0,
                        batch_size: int = 100):
    """FD-R18 and KID of each (method, mask)'s saved outputs against the ground truth images.

    Args:
        run_dir: the bench run folder (its ``images/``).
        df: its rows (failed rows are left out; ``images_file`` names the saved outputs).
        evaluator: an evaluator classifier checkpoint (e.g. the run's ``--eval-classifier``).
        methods, masks: order and selection.

    Returns:
        A DataFrame with columns mask, method, n, fd_r18, kid, kid_std: the images that have both
        a saved output and a saved ground truth; cells with fewer than 4 such images are left out.
    """
    import pandas as pd

    from classifiers import load_feature_network

    from .bench.rundir import inputs_path
    from .quality import PooledFeatures, frechet_distance, kernel_distance
    from .report.rows import ok_rows
    from .utils import from_uint8, resolve_device

    run_dir = Path(run_dir)
    ok = ok_rows(df)
    cols = ["mask", "method", "n", "fd_r18", "kid", "kid_std"]
    if "images_file" not in ok:
        return pd.DataFrame(columns=cols)
    dev = resolve_device(device)
    features = PooledFeatures(load_feature_network(evaluator, device=dev))

    def embed(u8: np.ndarray) -> torch.Tensor:
        return torch.cat([features(from_uint8(u8[i:i + batch_size]).to(dev)).double().cpu()
                          for i in range(0, len(u8), batch_size)])

    methods = list(methods) if methods is not None else list(dict.fromkeys(ok["method"]))
    masks = list(masks) if masks is not None else list(dict.fromkeys(ok["mask"]))
    recs = []
    for mask in masks:
        inputs = inputs_path(run_dir, mask)
        if not inputs.is_file():
            continue
        with np.load(inputs, allow_pickle=False) as z:
            real_ids, real = z["ids"], z["target"]
        real_pos = {int(i): k for k, i in enumerate(real_ids)}
        real_feats = None
        for method in methods:
            here = (ok["mask"] == mask) & (ok["method"] == method) & ok["images_file"].notna()
            files = ok.loc[here, "images_file"]
            ids, out = _images(run_dir, list(files), "output")
            keep = [k for k, i in enumerate(ids) if int(i) in real_pos]
            if len(keep) < 4:
                continue
            if real_feats is None:
                real_feats = embed(real)
            fake = embed(out[keep])
            ref = real_feats[[real_pos[int(ids[k])] for k in keep]]
            kid, kid_std = kernel_distance(ref, fake, subsets=kid_subsets, seed=seed)
            recs.append({"mask": mask, "method": method, "n": len(keep),
                         "fd_r18": frechet_distance(ref, fake), "kid": kid, "kid_std": kid_std})
    return pd.DataFrame(recs, columns=cols)
