"""Alternating A/B of the latent search with the recipe GoogLeNet against the fast one (stem pools kept).

    QUIET_SCRIPT=benchmarks/speed/fastnet_ab.py benchmarks/speed/quiet.sh --batch 64 --rounds 3 \\
        --out benchmarks/results/speed-amx-fastnet

The two feature networks differ only in the two stem max-pools the recipe removes
(``remove_stem_pools``): same layers, same parameters, 12x fewer FLOPs for the fast one. Every
measurement runs in a fresh process (random weights, the same inputs, ``run.py:time_search``), and
the networks alternate within each round, as in ``tree_ab.py``. The loss sets are the suite's two
with a classifier and ``--preset best``'s search (``context,prior,sem[known]=auto:1``). Writes
``OUT.json`` (every measurement) and ``OUT.md`` (the medians and the FLOPs).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from common import add_ab_arguments, build_googlenet_features, run_child  # noqa: E402

SETS = {"context,prior,inpaint,sem": "context,prior,inpaint,sem",
        "all five": "context,prior,inpaint,sem,cat",
        "best (sem[known])": "context,prior,sem[known]=auto:1"}
NETS = {"recipe": {}, "fast": {"remove_stem_pools": False}}

_CHILD = r"""
import json, sys, torch
here, spec, kwargs, batch, precision, threads = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
sys.path.insert(0, here)
torch.set_num_threads(threads)
from common import build_gan, build_googlenet_features
from run import time_search
g, d = build_gan(0)
r = time_search((g, d, build_googlenet_features(0, **kwargs)), spec, batch, {"precision": precision}, 3.0, 3)
print("RESULT " + json.dumps(r))
"""


def forward_gflop(kwargs: dict) -> float:
    """Forward GFLOP per 64x64 image (convolutions and matmuls, ``FlopCounterMode``)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    net = build_googlenet_features(0, **kwargs).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        net(torch.zeros(1, 3, 64, 64), ["inception3b"])
    return fc.get_total_flops() / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_ab_arguments(ap)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from inpaintkit.utils import atomic_write_json, atomic_write_text, run_metadata

    rows = []
    for r in range(args.rounds):
        for label, spec in SETS.items():
            for net, kwargs in NETS.items():
                res = run_child(_CHILD, [str(HERE), spec, json.dumps(kwargs), str(args.batch), args.precision,
                                         str(args.threads)], {**os.environ, "PYTHONPATH": str(ROOT)},
                                f"{label} / {net}", cwd=ROOT)
                rows.append({"round": r, "loss_set": label, "net": net, **res})
                print(f"round {r} {label} {net}: {res['img_it_per_s']:.2f} img-it/s", flush=True)
    flops = {net: forward_gflop(kwargs) for net, kwargs in NETS.items()}
    meta = run_metadata(vars(args))
    meta.update({"command": "python benchmarks/speed/fastnet_ab.py " + " ".join(sys.argv[1:]),
                 "time": time.strftime("%Y-%m-%d %H:%M:%S")})
    out = Path(args.out)
    atomic_write_json(out.with_suffix(".json"), {"meta": meta, "forward_gflop": flops, "rows": rows})
    lines = ["# Latent search with the recipe GoogLeNet against the fast one",
             "",
             f"`{meta['command']}` ({meta['time']}), {meta['machine'].get('cpu_model', 'CPU')}, "
             f"{args.threads} threads, batch {args.batch}, {args.precision}, random weights, commit "
             f"`{meta.get('git_commit', 'unknown')}`.",
             "",
             f"Forward GFLOP per 64x64 image: recipe {flops['recipe']:.3f}, fast {flops['fast']:.3f}.",
             "",
             "| loss set | recipe img-it/s (rounds) | fast img-it/s (rounds) | recipe median | fast median | fast / recipe |",
             "|---|---|---|---:|---:|---:|"]
    for label in SETS:
        med = {}
        cells = []
        for net in NETS:
            v = [x["img_it_per_s"] for x in rows if x["loss_set"] == label and x["net"] == net]
            med[net] = statistics.median(v)
            cells.append(", ".join(f"{x:.1f}" for x in v))
        lines.append(f"| {label} | {cells[0]} | {cells[1]} | {med['recipe']:.1f} | {med['fast']:.1f} | "
                     f"{med['fast'] / med['recipe']:.2f}x |")
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
