"""Time of the Context Encoder baseline (``ce``) per 64x64 image, at batch 64 and batch 1.

    python benchmarks/baselines/time_ce.py [--ce CKPT] [--threads 2] [--out benchmarks/results/ce-speed]

Times ``run_baseline("ce", y, mask, model=net)`` end to end (the forward pass plus the composite
with the known pixels) on seeded random images with a center hole, after a warm-up, as the median
of ``--repeats`` calls. Default checkpoint: the bundled synthetic-cars one. Writes STEM.json (the
rows, the machine and the versions) and appends a line to STEM.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "results" / "ce-speed"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ce", default=None, help="Context Encoder checkpoint (default: the bundled one)")
    ap.add_argument("--batch-sizes", default="64,1")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)

    from inpaintkit.baselines import load_context_encoder, run_baseline
    from inpaintkit.bench import bundled_asset
    from inpaintkit.masks import center_mask
    from inpaintkit.utils import cpu_model, git_commit

    torch.set_num_threads(args.threads)
    path = args.ce or str(bundled_asset("ce"))
    net, _ = load_context_encoder(path)
    size = net.config.image_size
    rows = []
    for b in [int(s) for s in args.batch_sizes.split(",")]:
        g = torch.Generator().manual_seed(b)
        y = torch.rand(b, 3, size, size, generator=g) * 2 - 1
        mask = torch.from_numpy(center_mask(size, size, None))[None, None].float()
        for _ in range(2):
            run_baseline("ce", y, mask, model=net)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            run_baseline("ce", y, mask, model=net)
            times.append(time.perf_counter() - t0)
        ms = 1000 * statistics.median(times) / b
        rows.append({"batch_size": b, "ms_per_image": round(ms, 3), "repeats": args.repeats})
        print(f"batch {b}: {ms:.2f} ms per image")
    params = sum(p.numel() for p in net.parameters())
    meta = {"checkpoint": path, "params": params, "config": vars(net.config), "threads": args.threads,
            "cpu": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch": torch.__version__, "commit": git_commit(), "date": time.strftime("%Y-%m-%d %H:%M"),
            "load_average": list(__import__("os").getloadavg())}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    history = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists() else []
    history.append({"meta": meta, "rows": rows})
    out.with_suffix(".json").write_text(json.dumps(history, indent=1))
    md = out.with_suffix(".md")
    if not md.exists():
        md.write_text("# Context Encoder (`ce`): time per 64x64 image\n\n"
                      "Command: `python benchmarks/baselines/time_ce.py --ce CKPT`; median of the timed calls, "
                      "forward pass plus composite, fp32.\n\n"
                      "| date | commit | checkpoint | params | CPU (torch capability) | threads | load avg | "
                      + " | ".join(f"batch {r['batch_size']} ms/img" for r in rows) + " |\n"
                      "|---|---|---|---:|---|---:|---:|" + "---:|" * len(rows) + "\n")
    with open(md, "a") as f:
        f.write(f"| {meta['date']} | {(meta['commit'] or '')[:10]} | `{Path(path).name}` | {params / 1e6:.2f} M | "
                f"{meta['cpu']} ({meta['cpu_capability']}) | {args.threads} | {meta['load_average'][0]:.1f} | "
                + " | ".join(f"{r['ms_per_image']:.2f}" for r in rows) + " |\n")


if __name__ == "__main__":
    main()
