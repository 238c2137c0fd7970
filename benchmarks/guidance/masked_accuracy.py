"""Top-1 of the Stanford Cars classifiers on val images with inpainting holes.

    python benchmarks/guidance/masked_accuracy.py --start 1000 -n 500 \
        --out benchmarks/results/guidance/masked-classifier.md

For the recipe GoogLeNet, the masked-input GoogLeNet (``train-classifier --mask-augment``) and the
ResNet-18 evaluator: top-1 on whole images and with each hole, zero-filled as the losses' ``M*y``
(mid-grey), image ``i`` with the mask of seed ``i`` (:func:`classifiers.augment.hole_masks`).
Images 1000-1499 of ``val.npz`` by default: disjoint from the benchmark's test (0-99), study
(100-199) and tuning (200-231) images.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from classifiers import load_feature_network
from classifiers.augment import hole_masks
from inpaintkit.utils import atomic_write_text, cpu_model, run_metadata

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "benchmarks" / "models" / "stanford-cars-64"
NETS = {"recipe GoogLeNet": "classifier-googlenet.pt", "masked-input GoogLeNet": "classifier-googlenet-masked.pt",
        "ResNet-18 evaluator": "evaluator-resnet18.pt"}
MASKS = ("center", "left", "random:0.7", "blocks")


@torch.no_grad()
def top1(net, x: torch.Tensor, y: np.ndarray, batch: int = 100) -> float:
    pred = torch.cat([net(x[i:i + batch], [])[1].argmax(1) for i in range(0, len(x), batch)])
    return float((pred.numpy() == y).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "stanford-cars-64" / "val.npz"))
    ap.add_argument("--start", type=int, default=1000)
    ap.add_argument("-n", type=int, default=500)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", required=True, help="Markdown table; a .json with the numbers and metadata beside it")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not Path(args.data).is_file():
        raise SystemExit(f"no data at {args.data}: pass --data PATH/val.npz of stanford-cars-64")
    with np.load(args.data) as f:
        x = f["images"][args.start:args.start + args.n]
        y = f["labels"][args.start:args.start + args.n].astype(np.int64)
    x = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1
    ids = list(range(args.start, args.start + len(x)))
    inputs = {"whole": x, **{m: x * hole_masks([m], x.shape[-1], ids) for m in MASKS}}
    t0 = time.perf_counter()
    acc = {name: {k: top1(load_feature_network(MODELS / f), v, y) for k, v in inputs.items()}
           for name, f in NETS.items()}
    cols = list(inputs)
    lines = [f"Top-1 on Stanford Cars val images {args.start}-{args.start + len(x) - 1} ({len(x)} images), "
             "holes zero-filled as M*y in the losses:", "",
             "| classifier | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    lines += [f"| {name} | " + " | ".join(f"{a[c]:.3f}" for c in cols) + " |" for name, a in acc.items()]
    lines += ["", f"Command: `python benchmarks/guidance/masked_accuracy.py --start {args.start} -n {len(x)} "
              f"--out {args.out}`; {time.perf_counter() - t0:.0f} s on {cpu_model()}."]
    text = "\n".join(lines) + "\n"
    out = Path(args.out)
    atomic_write_text(out, text)
    atomic_write_text(out.with_suffix(".json"), json.dumps(
        {"accuracy": acc, "images": [args.start, args.start + len(x)],
         "meta": run_metadata({"data": args.data, "start": args.start, "n": len(x)})}, indent=2))
    print(text)


if __name__ == "__main__":
    main()
