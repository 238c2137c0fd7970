"""Collect the runs of ``benchmarks/gan_ablation/run.sh`` into one rows file and a table.

    python benchmarks/gan_ablation/collect.py runs/gan-ablation --out benchmarks/results/gan-ablation
    python benchmarks/gan_ablation/collect.py --rows benchmarks/results/gan-ablation/rows.csv \
        --out benchmarks/results/gan-ablation        # rebuild the table from the committed rows

Each run folder ``CONFIG-sSEED`` holds ``snapshots.csv`` (FD-R18 and KID per snapshot) and
``meta.json`` (the run's settings, versions, commit and machine). The rows file has one row per
(config, seed, snapshot) plus the run's seconds per iteration.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
from pathlib import Path

FIELDS = ["config", "seed", "iter", "fd_r18", "kid", "kid_std", "n", "n_real", "s_per_it"]
ORDER = ["base", "ema", "diffaug", "sn", "hinge"]
WHAT = {"base": "plain recipe (BCE, no EMA, no augmentation)", "ema": "--ema 0.999",
        "diffaug": "--diffaug color,translation,cutout", "sn": "--spectral-norm", "hinge": "--gan-loss hinge"}


def _s_per_it(run: Path) -> float | None:
    path = run / "losses.csv"
    if not path.is_file():
        return None
    rows = list(csv.DictReader(path.open()))
    vals = [float(r["sec_per_iter"]) for r in rows if r.get("sec_per_iter") not in (None, "")]
    return statistics.median(vals) if vals else None


def collect(root: Path) -> list[dict]:
    rows = []
    for run in sorted(p for p in root.iterdir() if (p / "snapshots.csv").is_file()):
        config, _, seed = run.name.rpartition("-s")
        spi = _s_per_it(run)
        for r in csv.DictReader((run / "snapshots.csv").open()):
            rows.append({"config": config, "seed": int(seed), "iter": int(r["iter"]),
                         "fd_r18": float(r["fd_r18"]), "kid": float(r["kid"]), "kid_std": float(r["kid_std"]),
                         "n": int(r["n"]), "n_real": int(r["n_real"]), "s_per_it": spi})
    return rows


def table(rows: list[dict], machine: str) -> str:
    configs = sorted({r["config"] for r in rows}, key=lambda c: ORDER.index(c) if c in ORDER else 99)
    iters = sorted({r["iter"] for r in rows})
    seeds = sorted({r["seed"] for r in rows})

    def fd(c, it):
        v = [r["fd_r18"] for r in rows if r["config"] == c and r["iter"] == it]
        return statistics.fmean(v) if v else None

    last = iters[-1]
    base_last = fd("base", last)
    head = "| option | " + " | ".join(f"FD-R18 @ {it}" for it in iters) + \
        " | best | vs base @ " + f"{last} | KID @ {last} | s/it |"
    lines = ["# What each training option does to FD-R18 (synthetic-cars)", "",
             "Rows: `rows.csv` (one per run and snapshot). Made by `benchmarks/gan_ablation/run.sh "
             "runs/gan-ablation` and `python benchmarks/gan_ablation/collect.py runs/gan-ablation --out "
             "benchmarks/results/gan-ablation`.", "",
             f"dcgan_64 with ngf = ndf = 32 (the bundled generator's size), batch 64, seed(s) "
             f"{', '.join(map(str, seeds))}; FD-R18 = Fréchet distance on the bundled synthetic-cars "
             "evaluator's pooled features, 1,000 samples against val images 0-999 (lower is better; "
             f"not FID). {machine}", "",
             head, "|---|" + "---:|" * (len(iters) + 4)]
    for c in configs:
        vals = [fd(c, it) for it in iters]
        best = min(v for v in vals if v is not None)
        kid = [r["kid"] for r in rows if r["config"] == c and r["iter"] == last]
        spi = [r["s_per_it"] for r in rows if r["config"] == c and r["s_per_it"] is not None]
        rel = f"{vals[-1] / base_last:.2f}x" if base_last and vals[-1] is not None else ""
        lines.append(f"| {WHAT.get(c, c)} | " + " | ".join("" if v is None else f"{v:.2f}" for v in vals)
                     + f" | {best:.2f} | {rel} | {statistics.fmean(kid):.3f} | "
                     + (f"{statistics.fmean(spi):.2f}" if spi else "") + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", type=Path, help="the folder run.sh wrote")
    ap.add_argument("--rows", type=Path, help="rebuild from a committed rows.csv")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    machine = ""
    if args.rows:
        rows = [{**r, "seed": int(r["seed"]), "iter": int(r["iter"]), "fd_r18": float(r["fd_r18"]),
                 "kid": float(r["kid"]), "s_per_it": float(r["s_per_it"]) if r["s_per_it"] else None}
                for r in csv.DictReader(args.rows.open())]
    else:
        rows = collect(args.root)
        metas = sorted(args.root.glob("*/meta.json"))
        if metas:
            m = json.loads(metas[0].read_text()).get("machine", {})
            machine = (f"Timing: {m.get('cpu_model', m.get('processor'))}, torch cpu_capability "
                       f"{m.get('cpu_capability', '?')}, {m.get('torch_threads')} thread per run, precision "
                       f"{json.loads(metas[0].read_text()).get('config', {}).get('precision', '?')}.")
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.rows:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
        tmp = args.out / "rows.csv.tmp"
        tmp.write_text(buf.getvalue())
        tmp.replace(args.out / "rows.csv")
        (args.out / "machine.txt").write_text(machine + "\n")
    elif (args.out / "machine.txt").is_file():
        machine = (args.out / "machine.txt").read_text().strip()
    (args.out / "table.md").write_text(table(rows, machine))
    print((args.out / "table.md").read_text())


if __name__ == "__main__":
    main()
