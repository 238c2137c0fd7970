"""One table from ``benchmarks/gan_compare/run.sh``'s runs: the same search with each generator.

    python benchmarks/gan_compare/compare.py OUT/gan-stanford-cars-64 OUT/gan-v2 \
        --names old,new --reference old --out benchmarks/results/gan-compare/table.md

The search rows of each run are labelled ``PRESET (NAME)``: ``--presets`` gives the preset each run
used (default ``best`` for every run), so runs of ``PRESET=fast`` can sit beside ``best`` ones of the
same generator. The baselines (the same in every run, checked) keep their names. Every method is
compared with the reference (a label, or a name for ``best (NAME)``) on the same images and masks
(:mod:`benchmarks.guidance.analyze`: paired hole-PSNR difference with its 95% CI, exact McNemar on
the evaluator's top-1), and each search with Telea, per mask.
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


def run_rows(run: str | Path) -> pd.DataFrame:
    """A run's rows: ``RUN/rows.jsonl``, or, for a run folder kept as ``meta.json`` only, its rows in
    the results folder's ``rows.jsonl`` (every run's rows, with a ``run`` column naming the folder)."""
    run = Path(run)
    if (run / "rows.jsonl").is_file():
        return pd.read_json(run / "rows.jsonl", lines=True)
    joined = run.parent / "rows.jsonl"
    if joined.is_file():
        rows = pd.read_json(joined, lines=True, dtype={"run": str})
        if "run" in rows and (rows.run == run.name).any():
            return rows[rows.run == run.name].drop(columns="run").reset_index(drop=True)
    raise SystemExit(f"no rows for {run}: neither {run / 'rows.jsonl'} nor rows with run={run.name!r} in {joined}")


def load(runs: list[str], labels: list[str]) -> pd.DataFrame:
    frames = []
    for run, label in zip(runs, labels):
        rows = run_rows(run)
        search = rows.method_kind == "search"
        rows.loc[search, "method"] = label
        frames.append(rows)
    rows = pd.concat(frames, ignore_index=True)
    return analyze.drop_repeats(rows)  # the baselines' rows, identical in every run


def versus_telea(rows: pd.DataFrame, labels: list[str]) -> str:
    """Each search against Telea, per mask: mean hole-PSNR difference [95% CI]."""
    telea = rows[rows.method == "telea"].set_index(["mask", "image_id"])
    lines = ["| mask | " + " | ".join(f"{lab} - telea, hole PSNR" for lab in labels) + " |",
             "|---|" + "---|" * len(labels)]
    for mask in dict.fromkeys(rows["mask"]):
        cells = []
        for lab in labels:
            s = rows[(rows.method == lab) & (rows["mask"] == mask)].set_index(["mask", "image_id"])
            s = s[s.index.isin(telea.index)]
            cells.append(analyze.delta_ci(s.psnr_hole.to_numpy() - telea.loc[s.index].psnr_hole.to_numpy()))
        lines.append(f"| {mask} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def context_fit(rows: pd.DataFrame, labels: list[str], reference: str) -> str:
    """How well each search fits the known pixels: the median final ``context`` loss per mask, and on
    how many images it is below the reference's. A generator that covers fewer real images fits the
    context worse, whatever its samples look like."""
    search = rows[rows.method.isin(labels)].set_index(["mask", "image_id"])
    lines = ["| mask | " + " | ".join(f"{lab}: median context loss (below {reference} on)" for lab in labels) + " |",
             "|---|" + "---|" * len(labels)]
    for mask in dict.fromkeys(rows["mask"]):
        ref = search[search.method == reference].loc[mask].loss_context
        cells = []
        for lab in labels:
            c = search[search.method == lab].loc[mask].loss_context
            c = c[c.index.isin(ref.index)]
            below = "" if lab == reference else f" ({int((c < ref.loc[c.index]).sum())} of {len(c)})"
            cells.append(f"{c.median():.1f}{below}")
        lines.append(f"| {mask} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run folders of benchmarks/gan_compare/run.sh")
    ap.add_argument("--names", required=True, help="one short name per run, comma-separated")
    ap.add_argument("--presets", default="", help="the preset of each run, comma-separated (default: best)")
    ap.add_argument("--reference", required=True,
                    help="what every other search is compared with: a label such as 'fast (new)', or a name for 'best (NAME)'")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    names = args.names.split(",")
    presets = args.presets.split(",") if args.presets else ["best"] * len(names)
    if len(names) != len(args.runs) or len(presets) != len(args.runs):
        raise SystemExit("--names (and --presets, if given) need one entry per run")
    labels = [f"{p} ({n})" for p, n in zip(presets, names)]
    if len(set(labels)) != len(labels):
        raise SystemExit(f"two runs have the same label: {labels}; give each run its own name or preset")
    reference = args.reference if args.reference in labels else f"best ({args.reference})"
    if reference not in labels:
        raise SystemExit(f"--reference {args.reference!r} is none of the runs' labels {labels}")
    rows = load(args.runs, labels)
    text = (analyze.tables(rows, reference) + "\n" + versus_telea(rows, labels) + "\n"
            + context_fit(rows, labels, reference))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    print(text)


if __name__ == "__main__":
    main()
