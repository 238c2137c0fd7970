"""Per-image time of every classical baseline on 64x64 images, ``im`` against OpenCV Telea, and a
PSNR sanity table. Writes tidy rows plus metadata (JSON) and tables derived from them (Markdown).

    python benchmarks/baselines/time_baselines.py \\
        --data ../shared/data/stanford-cars-64/val.npz --pool ../shared/data/stanford-cars-64/train.npz

Without ``--data`` the images are synthetic (seeded smooth colour fields), and without ``--pool``
the ``nn`` baseline searches a synthetic pool of ``--pool-size`` images (its time depends only on
the pool's size). See README.md beside this script for the methodology.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "results" / "baselines-speed"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="npz file with 'images' uint8 (N, 64, 64, 3); "
                   "default: synthetic images")
    p.add_argument("--pool", default=None, help="npz file of training images for nn; default: a "
                   "synthetic pool of --pool-size images")
    p.add_argument("--pool-size", type=int, default=8144, help="size of the synthetic nn pool "
                   "(8144 = the Stanford Cars train split)")
    p.add_argument("--baselines", default="all", help="comma-separated names, or 'all'")
    p.add_argument("--masks", default="center,left,random:0.7")
    p.add_argument("--repeats", type=int, default=7, help="timed calls per (baseline, mask); "
                   "call r uses image r")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls first (the first imports)")
    p.add_argument("--min-sample-s", type=float, default=0.05, help="a timed sample repeats a "
                   "fast call until it lasts about this long, and reports the time per call")
    p.add_argument("--psnr-images", type=int, default=20, help="images per mask in the PSNR table "
                   "(0 skips it)")
    p.add_argument("--psnr-baselines", default="im,tv,biharmonic,telea")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (the machine is "
                   "shared; 1 keeps timings comparable)")
    p.add_argument("--seed", type=int, default=0, help="mask seeds (image i gets seed + i) and im's seed")
    p.add_argument("--device", default="cpu", help="device of the input tensors (cpu)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="output stem: writes STEM.json and STEM.md")
    return p.parse_args(argv)


def synthetic_images(n: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """Seeded smooth colour fields with a few sharp rectangles, uint8 (n, size, size, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.zeros((n, size, size, 3))
    for i in range(n):
        for c in range(3):
            f = rng.uniform(0.5, 3.0, 2)
            out[i, :, :, c] = 0.5 + 0.3 * np.cos(np.pi * (f[0] * yy + f[1] * xx) + rng.uniform(0, 6.3))
        for _ in range(3):
            y0, x0 = rng.integers(0, size - 8, 2)
            h, w = rng.integers(4, size // 2, 2)
            out[i, y0:y0 + h, x0:x0 + w] = rng.uniform(0, 1, 3)
    return (out.clip(0, 1) * 255).round().astype(np.uint8)


def load_images(path: str | None, n: int, seed: int) -> tuple[np.ndarray, str]:
    if path is None:
        return synthetic_images(n, seed=seed), "synthetic"
    with np.load(path, allow_pickle=False) as f:
        if "images" not in f.files:
            raise SystemExit(f"{path} has no 'images' array")
        return f["images"][:n], str(path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    import pandas as pd
    from skimage.metrics import peak_signal_noise_ratio

    from inpaintkit.baselines import baseline_options, list_baselines, run_baseline
    from inpaintkit.masks import make_mask
    from inpaintkit.utils import (
        atomic_write_json,
        atomic_write_text,
        from_uint8,
        run_metadata,
        to_uint8,
    )

    names = list_baselines() if args.baselines == "all" else [s.strip() for s in args.baselines.split(",")]
    masks = [s.strip() for s in args.masks.split(",") if s.strip()]
    psnr_names = [s.strip() for s in args.psnr_baselines.split(",") if s.strip()]
    n_need = max(args.repeats, args.psnr_images, 1)
    images, data_source = load_images(args.data, n_need, args.seed)
    if len(images) < n_need:
        raise SystemExit(f"need {n_need} images, {data_source} has {len(images)}")
    x_all = from_uint8(images).to(args.device)
    size = x_all.shape[-1]

    if args.pool is not None:
        with np.load(args.pool, allow_pickle=False) as f:
            pool_imgs = f["images"]
        pool_source = str(args.pool)
    else:
        pool_imgs = synthetic_images(args.pool_size, size, seed=args.seed + 1)
        pool_source = f"synthetic ({args.pool_size} images)"
    from inpaintkit.data import ArrayDataset

    pool = ArrayDataset(pool_imgs, name=pool_source)

    def options(name: str, i: int) -> dict:
        opts = {}
        accepted = baseline_options(name)
        if "seed" in accepted:
            opts["seed"] = args.seed + i
        if "pool" in accepted:
            opts["pool"] = pool
        return opts

    load_start = os.getloadavg()
    timing: list[dict] = []
    for name in names:
        for spec in masks:
            row = {"method": name, "mask": spec, "image_size": size, "repeats": args.repeats,
                   "warmup": args.warmup}
            try:
                m0 = make_mask(spec, size, seed=args.seed, device=args.device)
                warm = []
                for _ in range(max(1, args.warmup)):
                    t = time.perf_counter()
                    run_baseline(name, x_all[:1], m0, **options(name, 0))
                    warm.append(time.perf_counter() - t)
                # fast methods are called several times per sample (>= --min-sample-s), so that
                # timer resolution and a single preemption by a neighbour's job matter less
                inner = max(1, math.ceil(args.min_sample_s / max(min(warm), 1e-6)))
                times = []
                for r in range(args.repeats):
                    m = make_mask(spec, size, seed=args.seed + r, device=args.device)
                    y = x_all[r:r + 1].masked_fill(m == 0, float("nan"))
                    t = time.perf_counter()
                    for _ in range(inner):
                        run_baseline(name, y, m, **options(name, r))
                    times.append((time.perf_counter() - t) / inner)
                row.update(median_s=statistics.median(times), min_s=min(times), max_s=max(times),
                           calls_per_sample=inner, times_s=times)
            except Exception as e:  # a failure is a row, it does not stop the sweep
                row["error"] = f"{type(e).__name__}: {e}"
            timing.append(row)
            shown = f"{row['median_s'] * 1e3:8.1f} ms" if "median_s" in row else row["error"]
            print(f"time  {name:10s} {spec:11s} {shown}", flush=True)

    quality: list[dict] = []
    for spec in masks if args.psnr_images > 0 else []:
        m = make_mask(spec, size, seed=args.seed, batch=args.psnr_images, device=args.device)
        x = x_all[:args.psnr_images]
        y = x.masked_fill(m == 0, float("nan"))
        gt = to_uint8(x)
        hole = (m[:, 0] == 0).cpu().numpy()
        for name in psnr_names:
            try:
                t = time.perf_counter()
                out = to_uint8(run_baseline(name, y, m, **options(name, 0)))
                batch_s = time.perf_counter() - t
            except Exception as e:
                quality.append({"method": name, "mask": spec, "error": f"{type(e).__name__}: {e}"})
                continue
            for i in range(len(x)):
                quality.append({
                    "method": name, "mask": spec, "image": i, "batch": len(x),
                    "batch_ms_per_image": batch_s * 1e3 / len(x),
                    "psnr_full": float(peak_signal_noise_ratio(gt[i], out[i], data_range=255)),
                    "psnr_hole": float(peak_signal_noise_ratio(gt[i][hole[i]], out[i][hole[i]],
                                                               data_range=255)),
                })
            print(f"psnr  {name:10s} {spec:11s} done", flush=True)

    try:
        import cv2
        cv2_version = cv2.__version__
    except ImportError:
        cv2_version = None
    meta = run_metadata({k: v for k, v in vars(args).items()})
    meta.update(data=data_source, pool=pool_source, opencv=cv2_version,
                loadavg_start=load_start, loadavg_end=os.getloadavg(),
                command="python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]))
    out = Path(args.out)
    atomic_write_json(out.with_suffix(".json"), {"meta": meta, "timing": timing, "quality": quality})
    atomic_write_text(out.with_suffix(".md"), render_markdown(meta, pd.DataFrame(timing),
                                                              pd.DataFrame(quality), masks))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return 0


def md_table(df) -> str:
    """A pandas frame as a GitHub Markdown table (index first), without extra dependencies."""
    head = [str(df.index.name or "")] + [str(c) for c in df.columns]
    rows = [[str(i)] + [str(v) for v in r] for i, r in zip(df.index, df.itertuples(index=False))]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * len(df.columns)) + "|"]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])


def render_markdown(meta: dict, timing, quality, masks: list[str]) -> str:
    """Tables derived from the tidy rows: ms per image, im/telea ratio, mean PSNR."""
    lines = ["# Classical baselines: time per 64x64 image and a PSNR sanity check", "",
             f"Command: `{meta['command']}`", "",
             f"Commit {meta['git_commit']}, torch {meta['versions'].get('torch')}, "
             f"scikit-image {meta['versions'].get('scikit-image')}, OpenCV {meta['opencv']}, "
             f"{meta['machine']['cpu_count']} CPUs, torch threads {meta['config']['threads']}, "
             f"load average {meta['loadavg_start'][0]:.1f} at the start and "
             f"{meta['loadavg_end'][0]:.1f} at the end (the machine is shared).", "",
             f"Images: {meta['data']}; nn pool: {meta['pool']}.", "",
             "## Time per image (ms, median of repeats after warm-up; batch of 1)", ""]
    ok = timing[timing.get("error").isna()] if "error" in timing else timing
    if len(ok):
        t = ok.assign(ms=ok.median_s * 1e3).pivot(index="method", columns="mask", values="ms")
        t = t[[m for m in masks if m in t.columns]]
        lines += [md_table(t.round(1)), ""]
        if {"im", "telea"} <= set(t.index):
            ratio = (t.loc["im"] / t.loc["telea"]).round(1)
            lines += ["`im` / `telea` time ratio: " + ", ".join(f"{k} {v}x" for k, v in ratio.items()),
                      ""]
    if "error" in timing and timing.error.notna().any():
        lines += ["Failures:", ""] + [f"- {r.method} {r.mask}: {r.error}"
                                      for r in timing[timing.error.notna()].itertuples()] + [""]
    if len(quality) and "psnr_full" in quality:
        q = quality.dropna(subset=["psnr_full"])
        n = int(q.groupby(["method", "mask"]).size().max())
        lines += [f"## PSNR on uint8 (dB, mean over {n} images): hole / full image", "",
                  "Baselines are not blended: the fill is pasted into the known pixels. "
                  "scikit-image `peak_signal_noise_ratio`, data_range 255; hole = the hole's pixels "
                  "only, all channels.", ""]
        agg = q.groupby(["method", "mask"])[["psnr_hole", "psnr_full"]].mean()
        cell = agg.apply(lambda r: f"{r.psnr_hole:.2f} / {r.psnr_full:.2f}", axis=1).unstack("mask")
        lines += [md_table(cell[[m for m in masks if m in cell.columns]]), ""]
        bt = q.groupby(["method", "mask"]).batch_ms_per_image.first().unstack("mask")
        lines += [f"Time per image in that pass (ms; one call on the batch of {n}; tv and lowrank "
                  "solve the batch together, the others loop over it):", "",
                  md_table(bt[[m for m in masks if m in bt.columns]].round(1)), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
