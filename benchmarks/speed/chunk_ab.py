"""Alternating A/B of the classifier chunk size in one process (four-term search, batch 64, fp32).

    python benchmarks/speed/chunk_ab.py [--reps 2] [--batch 64]

Alternates ``feature_chunk=None`` and ``16`` so that slow drift of a shared machine shows up as a
trend rather than as a difference between the two. Run it with background jobs paused.
Measured on the 2-core AVX2 EPYC (2026-12-01): None 5.14, 16 6.98, None 6.71, 16 8.51 img-it/s.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import LOSS_SETS, build_gan, build_googlenet_features  # noqa: E402
from run import time_search  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g, d = build_gan(0)
    nets = (g, d, build_googlenet_features(0))
    for rep in range(args.reps):
        for chunk in (None, 16):
            r = time_search(nets, LOSS_SETS["context,prior,inpaint,sem"], args.batch,
                            {"precision": "fp32", "feature_chunk": chunk}, 3.0, 3)
            print(f"rep {rep} feature_chunk {chunk}: {r['img_it_per_s']:.2f} img-it/s", flush=True)


if __name__ == "__main__":
    main()
