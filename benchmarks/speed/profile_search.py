"""Profile latent-search steps with torch.profiler: where does the time go?

    python benchmarks/speed/profile_search.py --batch 64 --steps 3 --threads 2 [--precision bf16]

Profiles only the steady-state steps (loss evaluation, backward, optimiser update) on the search's
prepared networks -- the same step function ``latent_search`` runs -- after two warm-up steps,
and prints the top operators by self CPU time for each loss set (``--trace DIR`` also writes
Chrome traces).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import LOSS_SETS, build_gan, build_googlenet_features, corrupted_batch  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sets", default=";".join(LOSS_SETS), help="loss-set labels separated by ';'")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--channels-last", type=int, default=None, help="1/0; default: the search's default")
    ap.add_argument("--fold-bn", type=int, default=1)
    ap.add_argument("--rows", type=int, default=25)
    ap.add_argument("--trace", default=None, help="folder for Chrome traces")
    ap.add_argument("--by-shape", action="store_true", help="group the operators by input shape")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from torch.profiler import ProfilerActivity, profile

    from inpaintkit.losses import build_loss
    from inpaintkit.search import LatentOptimizer, SearchConfig, frozen, loss_evaluator

    g, d = build_gan()
    fnet = build_googlenet_features()
    y, m = corrupted_batch(args.batch)
    cl = None if args.channels_last is None else bool(args.channels_last)
    cfg = SearchConfig(precision=args.precision, channels_last=cl, fold_bn=bool(args.fold_bn))
    for label in args.sets.split(";"):
        spec = LOSS_SETS[label]
        loss = build_loss(spec, fnet if ("sem" in spec or "cat" in spec) else None)
        prepared = loss.prepare(y, m)
        z = (torch.rand(args.batch, 100, generator=torch.Generator().manual_seed(0)) * 2 - 1).requires_grad_()
        opt = LatentOptimizer(z, cfg)
        with frozen(g, d, loss.feature_net):
            evaluate, _ = loss_evaluator(loss, prepared, z, generator=g, discriminator=d,
                                         fnet=loss.feature_net, config=cfg, device=torch.device("cpu"))
            weights = loss.resolve_weights(evaluate(z), z)

            def step() -> None:
                total = loss.combine(evaluate(z), weights)
                z.grad = None
                total.sum().backward()
                opt.step(0.01)
                with torch.no_grad():
                    z.clamp_(-1, 1)

            for _ in range(2):
                step()
            t = time.perf_counter()
            with profile(activities=[ProfilerActivity.CPU], record_shapes=args.by_shape) as prof:
                for _ in range(args.steps):
                    step()
            dt = time.perf_counter() - t
        print(f"\n=== {label}  batch {args.batch}  {args.steps} steps  {args.precision}: {dt:.2f}s "
              f"({args.batch * args.steps / dt:.1f} img-it/s under the profiler) ===")
        print(prof.key_averages(group_by_input_shape=args.by_shape).table(
            sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=40,
            max_shapes_column_width=70))
        if args.trace:
            Path(args.trace).mkdir(parents=True, exist_ok=True)
            prof.export_chrome_trace(str(Path(args.trace) / f"{label.replace(',', '_').replace(' ', '_')}.json"))


if __name__ == "__main__":
    main()
