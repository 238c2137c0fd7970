"""Shared builders for the speed suite: the 64x64 DCGAN, the recipe GoogLeNet as a feature network,
seeded corrupted images, and a timing helper (median of repeats after warm-up)."""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch

#: The three loss sets the speed suite times, by label.
LOSS_SETS = {
    "context,prior": "context,prior",
    "context,prior,inpaint,sem": "context,prior,inpaint,sem",
    "all five": "context,prior,inpaint,sem,cat",
}


def build_gan(seed: int = 0, checkpoint: str | None = None):
    """``(G, D)`` of ``dcgan_64`` (random N(0, 0.02) init, or loaded from ``checkpoint``), eval mode."""
    from inpaintkit.models import create_model, load_gan

    if checkpoint:
        g, d, _ = load_gan(checkpoint)
        return g.eval(), d.eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        g, d = create_model("dcgan_64")
    return g.eval(), d.eval()


def build_googlenet_features(seed: int = 0, checkpoint: str | None = None, **model_kwargs):
    """The recipe GoogLeNet (196 classes) wrapped as a frozen feature network, the way
    ``classifiers.load_feature_network`` wraps a checkpoint. Random weights unless ``checkpoint``;
    ``model_kwargs`` go to ``create_classifier`` (e.g. ``remove_stem_pools=False``, the fast one)."""
    from classifiers.features import ClassifierFeatures

    if checkpoint:
        from classifiers import load_feature_network

        return load_feature_network(checkpoint)
    from classifiers import create_classifier

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = create_classifier("googlenet", num_classes=196, **model_kwargs)
    return ClassifierFeatures(model, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), image_size=64)


def corrupted_batch(b: int, seed: int = 0, mask: str = "center", size: int = 64):
    """``(y, mask)``: ``b`` seeded random images in [-1, 1] with NaN in the hole, and the mask."""
    from inpaintkit.masks import make_mask

    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, size, size, generator=gen) * 2 - 1
    m = make_mask(mask, size, seed=seed)
    return torch.where(m > 0, x, torch.full_like(x, float("nan"))), m


def timeit(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> dict:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times; seconds per call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "repeats": repeats, "warmup": warmup, "times_s": times}


def add_ab_arguments(ap) -> None:
    """The options every alternating A/B script shares (``tree_ab.py``, ``fastnet_ab.py``)."""
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True, help="writes OUT.json and OUT.md")


def run_child(code: str, args: list[str], env: dict[str, str], what: str, cwd=None) -> dict:
    """Run ``python -P -c code *args`` in a fresh process and return the JSON it printed on its
    ``RESULT `` line; exit with ``what`` and the end of its stderr when it fails."""
    import json
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-P", "-c", code, *args], env=env, cwd=cwd, capture_output=True, text=True)
    line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
    if p.returncode or not line:
        sys.exit(f"{what} failed:\n{p.stderr[-2000:]}")
    return json.loads(line[-1][len("RESULT "):])
