"""Copy the demo-tuning runs' rows into the repository and tabulate them.

    python benchmarks/demo/collect.py [--runs runs/demo-tune] [--out benchmarks/results/demo-tune]

For every run of ``tune.sh`` (``RUNS/<generator>/<settings>/``) it copies ``rows.csv`` and
``meta.json`` to ``OUT/<generator>/<settings>/`` (synthetic images only: nothing licensed), and
writes ``OUT/README.md``: per generator, settings and method, the mean hole PSNR and hole SSIM per
mask, the evaluator's semantic accuracy, and the search seconds per image (summed over masks), all
from the copied rows.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pandas as pd

MASKS = ("center", "left", "random:0.7")


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    out = []
    for method, g in rows.groupby("method", sort=False):
        rec = {"method": method}
        for mask in MASKS:
            m = g[g["mask"] == mask]
            rec[f"{mask} PSNR"] = m["psnr_hole"].mean()
            rec[f"{mask} SSIM"] = m["ssim_hole"].mean()
            rec[f"{mask} acc"] = m["eval_correct"].astype(float).mean()
        rec["s/img"] = g.groupby("mask")["seconds"].mean().sum()
        rec["n"] = g["image_id"].nunique()
        out.append(rec)
    return pd.DataFrame(out)


def table(df: pd.DataFrame) -> str:
    cols = ["generator", "settings", "method"] + [f"{m} {k}" for m in MASKS for k in ("PSNR", "SSIM", "acc")] \
        + ["s/img", "n"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df[cols].iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if c.endswith("PSNR"):
                v = f"{v:.2f}"
            elif c.endswith("SSIM"):
                v = f"{v:.3f}"
            elif c.endswith("acc"):
                v = f"{100 * v:.0f}%"
            elif c == "s/img":
                v = f"{v:.2f}"
            cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="runs/demo-tune")
    ap.add_argument("--out", default="benchmarks/results/demo-tune")
    args = ap.parse_args()
    runs, out = Path(args.runs), Path(args.out)
    from inpaintkit.bench import rows_to_csv

    parts = []
    for run in sorted(runs.glob("*/*")):
        if not (run / "rows.jsonl").exists():
            continue
        rows_to_csv(run)
        dest = out / run.parent.name / run.name
        dest.mkdir(parents=True, exist_ok=True)
        for f in ("rows.csv", "meta.json"):
            shutil.copy2(run / f, dest / f)
    for csv in sorted(out.glob("*/*/rows.csv")):
        s = summarize(pd.read_csv(csv))
        s.insert(0, "settings", csv.parent.name)
        s.insert(0, "generator", csv.parent.parent.name)
        parts.append(s)
    if not parts:
        raise SystemExit(f"no runs under {runs}")
    df = pd.concat(parts, ignore_index=True)
    md = ["# Choosing the demo preset's search settings", "",
          "Rows: `<generator>/<settings>/rows.csv`, made by `benchmarks/demo/tune.sh GAN` and collected by",
          "`python benchmarks/demo/collect.py`. Synthetic-cars **val** split, images 0-31, the bundled",
          "classifier and evaluator, `context,prior,sem,cat` at the calibrated weights unless the settings",
          "name other ones, Poisson blend. `acc`:",
          "the evaluator's top-1 on the output; `s/img`: search (or baseline) seconds per image, summed over",
          "the three masks, on the machine in each run's `meta.json` (runs shared the CPU, so compare times",
          "only roughly). The settings were compared on `v2-iter2000`; the chosen ones (`chosen`: Adam lr",
          "0.03, 2 restarts x 15 iterations averaged, `--weights ratio`, i.e. sem/cat at auto:0.1) were then",
          "run on the two candidate generators (`benchmarks/demo/compare_gans.sh`). Why these, and why v2:",
          "the `DEMO` preset in `inpaintkit/_presets.py` and `benchmarks/models/synthetic-cars/GAN-v2.md`.",
          "", table(df), ""]
    (out / "README.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
