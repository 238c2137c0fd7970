"""One table from ``benchmarks/gan_compare/run.sh``'s runs: the same search with each generator.

    python benchmarks/gan_compare/compare.py OUT/gan-stanford-cars-64 OUT/gan-v2 \
        --names old,new --reference old --out benchmarks/results/gan-compare/table.md

The search rows of each run are labelled ``best (NAME)``; the baselines (the same in every run,
checked) keep their names. Every method is compared with ``best (REFERENCE)`` on the same images
and masks (:mod:`benchmarks.guidance.analyze`: paired hole-PSNR difference with its 95% CI, exact
McNemar on the evaluator's top-1), and each generator's search with Telea, per mask.
"""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pandas as pd

_spec = importlib.util.spec_from_file_location(
    "guidance_analyze", Path(__file__).resolve().parents[1] / "guidance" / "analyze.py")
analyze = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(analyze)


def load(runs: list[str], names: list[str]) -> pd.DataFrame:
    frames = []
    for run, name in zip(runs, names):
        rows = pd.read_json(Path(run) / "rows.jsonl", lines=True)
        search = rows.method_kind == "search"
        rows.loc[search, "method"] = f"best ({name})"
        frames.append(rows)
    rows = pd.concat(frames, ignore_index=True)
    return analyze.drop_repeats(rows)  # the baselines' rows, identical in every run


def versus_telea(rows: pd.DataFrame, names: list[str]) -> str:
    """Each generator's search against Telea, per mask: mean hole-PSNR difference [95% CI]."""
    telea = rows[rows.method == "telea"].set_index(["mask", "image_id"])
    lines = ["| mask | " + " | ".join(f"best ({n}) - telea, hole PSNR" for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for mask in dict.fromkeys(rows["mask"]):
        cells = []
        for n in names:
            s = rows[(rows.method == f"best ({n})") & (rows["mask"] == mask)].set_index(["mask", "image_id"])
            s = s[s.index.isin(telea.index)]
            cells.append(analyze.delta_ci(s.psnr_hole.to_numpy() - telea.loc[s.index].psnr_hole.to_numpy()))
        lines.append(f"| {mask} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run folders of benchmarks/gan_compare/run.sh")
    ap.add_argument("--names", required=True, help="one short name per run, comma-separated")
    ap.add_argument("--reference", required=True, help="the name every other generator is compared with")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    names = args.names.split(",")
    if len(names) != len(args.runs) or args.reference not in names:
        raise SystemExit("--names needs one name per run, and --reference must be one of them")
    rows = load(args.runs, names)
    text = (analyze.tables(rows, f"best ({args.reference})") + "\n" + versus_telea(rows, names))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    print(text)


if __name__ == "__main__":
    main()
