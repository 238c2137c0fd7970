"""Copy the issue-8 runs' records into the repository and write the side-by-side tables.

    python benchmarks/results/paper-table1/collect.py --runs runs --out benchmarks/results/paper-table1

For every run of ``run.sh`` found under ``--runs`` (``p1-paper-table1``, ``p1-best``,
``p1-best-sem``, ``p1-paper-table1-300``, ``p1-tune-*``) it (re)draws the report from the rows (``inpaintkit.report.make_report``) and copies
into ``OUT/<run>/``: ``rows.csv`` (one row per image, method and mask), ``meta.json`` (argv, resolved
config, versions, commit, machine), the report tables (``table.md/.csv/.tex``) and the figures that
show no pixels (loss curves, PSNR distributions). The qualitative grids and output images show
Stanford Cars pixels, which the data's licence keeps out of the repository: they stay in the run
directory (``inpaintkit report RUN`` draws them). Then it runs ``compare.py``.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

RUNS = ("p1-paper-table1", "p1-best", "p1-best-sem", "p1-paper-table1-300")
#: report files that hold no image content
KEEP = ("table.md", "table.csv", "table.tex", "psnr_distribution.png")


def collect(run: Path, out: Path) -> list[Path]:
    from inpaintkit.bench import rows_to_csv
    from inpaintkit.report import make_report

    rows_to_csv(run)  # the run writes it at its end; a run still in progress has none yet
    make_report(run, echo=None)
    dest = out / run.name
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for src in [run / "rows.csv", run / "meta.json",
                *[run / "report" / k for k in KEEP], *sorted((run / "report").glob("loss_curves_*.png"))]:
        if src.exists():
            shutil.copy2(src, dest / src.name)
            copied.append(dest / src.name)
    return copied


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--out", default="benchmarks/results/paper-table1")
    args = ap.parse_args()
    runs, out = Path(args.runs), Path(args.out)
    found = [runs / r for r in RUNS] + sorted(runs.glob("p1-tune*"))
    for run in found:
        if (run / "rows.jsonl").exists():
            files = collect(run, out)
            print(f"{run}: {len(files)} files -> {out / run.name}")
    if not (runs / "p1-paper-table1" / "rows.jsonl").exists():
        print(f"no {runs / 'p1-paper-table1'}: comparison.md not redrawn")
        return
    subprocess.run([sys.executable, str(Path(__file__).with_name("compare.py")), "--runs", str(runs),
                    "--out", str(out)], check=True)


if __name__ == "__main__":
    main()
