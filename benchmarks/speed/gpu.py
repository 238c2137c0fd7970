"""Latent-search speed on a CUDA GPU: image-iterations/s per loss set and batch, against the GPU's
matmul limit and the published ~100 s per image (1500 iterations, GTX 1080 Ti).

    python benchmarks/speed/gpu.py [--gan CKPT --classifier CKPT] [--out benchmarks/results/speed-gpu]

Each timing runs ``latent_search`` for ``N1`` and ``N2`` iterations with a device sync after each and
takes ``(t(N2) - t(N1)) / (N2 - N1)`` as the per-step time, so the one-off setup (copying and
preparing the networks, the first allocations) cancels out; median of ``--repeats`` such pairs.
FLOPs per image-iteration are counted on the CPU with ``FlopCounterMode`` (``run.py --sections flops``);
they do not depend on the device.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import LOSS_SETS, build_gan, build_googlenet_features, corrupted_batch  # noqa: E402
from run import search_flops  # noqa: E402

PUBLISHED_S_PER_IMAGE = 100.0  # ETH: 1500 iterations with the classifier losses, GTX 1080 Ti


def matmul_limit(dtype: torch.dtype, n: int = 8192, repeats: int = 10) -> float:
    a, b = (torch.randn(n, n, device="cuda", dtype=dtype) for _ in range(2))
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * repeats / (time.perf_counter() - t) / 1e9


def step_seconds(nets, spec: str, batch: int, precision: str, n1: int, n2: int, repeats: int) -> float:
    from inpaintkit.search import SearchConfig, latent_search

    g, d, fnet = nets
    y, m = corrupted_batch(batch, seed=batch)
    y, m = y.cuda(), m.cuda()

    def run(iters: int) -> float:
        torch.cuda.synchronize()
        t = time.perf_counter()
        latent_search(g, d, y, m, spec, SearchConfig(iters=iters, precision=precision, device="cuda"),
                      feature_net=fnet if ("sem" in spec or "cat" in spec) else None)
        torch.cuda.synchronize()
        return time.perf_counter() - t

    run(n1)  # warm-up (cuDNN autotuning, allocator)
    return statistics.median((run(n2) - run(n1)) / (n2 - n1) for _ in range(repeats))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gan", default=None, help="GAN checkpoint (default: random dcgan_64)")
    ap.add_argument("--classifier", default=None, help="GoogLeNet checkpoint (default: random recipe net)")
    ap.add_argument("--batches", default="1,8,32,64,256")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--n1", type=int, default=10)
    ap.add_argument("--n2", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/speed-gpu")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu.py needs a CUDA GPU (torch.cuda.is_available() is False)")
    from inpaintkit.utils import atomic_write_json, atomic_write_text, run_metadata

    torch.backends.cudnn.benchmark = True
    g, d = build_gan(0, args.gan)
    fnet = build_googlenet_features(0, args.classifier)
    flops = {label: search_flops(spec, g, d, fnet)["gflop_per_img_it"] for label, spec in LOSS_SETS.items()}
    g, d, fnet = g.cuda(), d.cuda(), fnet.cuda()
    limits = {"fp32": matmul_limit(torch.float32), "bf16": matmul_limit(torch.bfloat16)}
    print(f"matmul 8192: fp32 {limits['fp32']:.0f} GFLOP/s, bf16 {limits['bf16']:.0f}", flush=True)
    rows = []
    for label, spec in LOSS_SETS.items():
        for prec in args.precisions.split(","):
            for b in map(int, args.batches.split(",")):
                s = step_seconds((g, d, fnet), spec, b, prec, args.n1, args.n2, args.repeats)
                r = {"loss_set": label, "precision": prec, "batch": b, "step_s": s, "img_it_per_s": b / s,
                     "gflop_per_img_it": flops[label],
                     "fraction_of_limit": flops[label] * b / s / limits[prec],
                     "s_per_image_1500": 1500 * s / b}
                rows.append(r)
                print(f"{label:28s} {prec} B={b:4d}: {r['img_it_per_s']:9.1f} img-it/s, "
                      f"{100 * r['fraction_of_limit']:5.1f}% of limit, {r['s_per_image_1500']:.3f} s/image",
                      flush=True)
    meta = run_metadata(vars(args))
    meta["gpu"] = torch.cuda.get_device_name()
    out = Path(args.out)
    atomic_write_json(out.with_suffix(".json"), {"meta": meta, "matmul_gflops": limits, "rows": rows})
    lines = [f"# Latent-search speed on {meta['gpu']}", "",
             f"Command: `python benchmarks/speed/gpu.py {' '.join(sys.argv[1:])}`; torch {torch.__version__}; "
             f"matmul limit (8192^3): fp32 {limits['fp32']:.0f} GFLOP/s, bf16 {limits['bf16']:.0f} GFLOP/s "
             "(fp32 without TF32, PyTorch's default).", "",
             "| loss set | precision | batch | img-it/s | % of matmul limit | s per image, 1500 iters | "
             f"vs published ({PUBLISHED_S_PER_IMAGE:.0f} s/image) |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['loss_set']} | {r['precision']} | {r['batch']} | {r['img_it_per_s']:.1f} | "
                     f"{100 * r['fraction_of_limit']:.1f} | {r['s_per_image_1500']:.3f} | "
                     f"{PUBLISHED_S_PER_IMAGE / r['s_per_image_1500']:.0f}x |")
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
