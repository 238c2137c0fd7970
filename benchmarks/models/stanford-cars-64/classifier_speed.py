"""Seconds per training step of candidate classifiers at 64x64, fp32 vs bf16 autocast/channels-last,
and their forward GFLOP per image (``torch.utils.flop_counter``: convolutions and matmuls).

One step = forward, cross-entropy (+0.3 x auxiliary heads for GoogLeNet), backward, Adam update,
on a random batch; the median of the steps after two warm-up steps. "s/epoch" scales this to the
8,144 Stanford Cars training images. Run it on an idle machine: the numbers are only comparable
within one run.

    python benchmarks/models/stanford-cars-64/classifier_speed.py --threads 1 \
        --out benchmarks/models/stanford-cars-64/classifier_speed.csv
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

CANDIDATES = [
    ("googlenet", {}),
    # the recipe GoogLeNet with torchvision's stem max-pools kept: about 1/12 of the FLOPs (issue 19)
    ("googlenet", {"remove_stem_pools": False}),
    ("timm:resnet18", {}),
    ("timm:resnet18", {"drop_stem_pool": True}),
    ("timm:resnet10t", {"drop_stem_pool": True}),
    ("timm:resnet26d", {}),
    ("timm:efficientnet_b0", {}),
    ("timm:convnext_atto", {"patch_size": 2}),
    ("googlenet_tiny", {}),
]


def step_seconds(arch: str, kwargs: dict, bf16: bool, channels_last: bool, batch: int = 32,
                 size: int = 64, classes: int = 196, steps: int = 6) -> float:
    from classifiers import create_classifier

    torch.manual_seed(0)
    m = create_classifier(arch, classes, **kwargs).train()
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, classes, (batch,))
    if channels_last:
        m = m.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], 1e-3)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            logits, aux = m.forward_train(x)
            loss = F.cross_entropy(logits.float(), y) + sum(0.3 * F.cross_entropy(a.float(), y) for a in aux)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return statistics.median(times[2:])


def forward_gflop(arch: str, kwargs: dict, size: int = 64, classes: int = 196) -> float:
    """Forward GFLOP per image in eval mode (the feature network's cost in the search)."""
    from torch.utils.flop_counter import FlopCounterMode

    from classifiers import create_classifier

    m = create_classifier(arch, classes, **kwargs).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        m(torch.zeros(2, 3, size, size))
    return fc.get_total_flops() / 2 / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--train-images", type=int, default=8144)
    ap.add_argument("--only", default=None, help="comma-separated arch names to run")
    ap.add_argument("--out", default=None, help="CSV to write")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for arch, kw in CANDIDATES:
        if args.only and arch not in args.only.split(","):
            continue
        for mode in ("fp32", "bf16+channels_last"):
            s = step_seconds(arch, kw, bf16=mode != "fp32", channels_last=mode != "fp32", batch=args.batch_size)
            row = {"arch": arch, "kwargs": json.dumps(kw), "gflop_fwd": round(forward_gflop(arch, kw), 3),
                   "mode": mode, "threads": args.threads,
                   "batch": args.batch_size, "s_per_step": round(s, 4),
                   "s_per_epoch": round(s * args.train_images / args.batch_size, 1)}
            rows.append(row)
            print(row, flush=True)
    if args.out:
        import pandas as pd

        from inpaintkit.utils import atomic_write_text, run_metadata

        atomic_write_text(args.out, pd.DataFrame(rows).to_csv(index=False))
        atomic_write_text(args.out.rsplit(".", 1)[0] + ".json",
                          json.dumps(run_metadata(vars(args)), indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
