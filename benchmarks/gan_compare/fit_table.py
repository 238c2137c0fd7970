"""One table from ``benchmarks/gan_compare/fit.sh``'s runs: per generator, the final context loss of
the search (how well it fits the known pixels of held-out images) and the hole PSNR, each paired with
the reference generator on the same images and masks.

    python benchmarks/gan_compare/fit_table.py OUT --reference old --out OUT/table.md
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from compare import analyze  # this folder is on sys.path when the script runs


def fit_rows(root: Path) -> dict[str, pd.DataFrame]:
    """The search rows per generator: from ``root/rows.jsonl`` (every run's rows, with a ``run``
    column), written from the run folders ``root/NAME/rows.jsonl`` when it is missing, so that a
    results folder keeps one rows file and each run's ``meta.json``."""
    combined = root / "rows.jsonl"
    if not combined.is_file():
        frames = [pd.read_json(d / "rows.jsonl", lines=True).assign(run=d.name)
                  for d in sorted(p for p in root.iterdir() if (p / "rows.jsonl").is_file())]
        if not frames:
            raise SystemExit(f"no rows in {root}: neither rows.jsonl nor run folders with one")
        tmp = combined.with_name("rows.jsonl.tmp")
        pd.concat(frames, ignore_index=True).to_json(tmp, orient="records", lines=True)
        tmp.replace(combined)
    rows = pd.read_json(combined, lines=True, dtype={"run": str})
    rows = rows[rows.method_kind == "search"]
    return {name: r.set_index(["mask", "image_id"]).sort_index() for name, r in rows.groupby("run")}


def table(runs: dict[str, pd.DataFrame], reference: str) -> str:
    if reference not in runs:
        raise SystemExit(f"--reference {reference!r} is none of the runs {sorted(runs)}")
    ref = runs[reference]
    lines = ["| generator | n | median context loss | fits better than the reference on | hole PSNR | Δ hole PSNR [95% CI] |",
             "|---|---:|---:|---:|---:|---:|"]
    order = [reference] + sorted((n for n in runs if n != reference), key=lambda n: (len(n), n))
    for name in order:
        s = runs[name]
        s = s[s.index.isin(ref.index)]
        r = ref.loc[s.index]
        better = "" if name == reference else f"{int((s.loss_context < r.loss_context).sum())} of {len(s)}"
        delta = "" if name == reference else analyze.delta_ci(s.psnr_hole - r.psnr_hole)
        lines.append(f"| {name} | {len(s)} | {s.loss_context.median():.1f} | {better} | {s.psnr_hole.mean():.2f} | {delta} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="the OUT folder of fit.sh (one run folder per generator), or a "
                    "folder with their combined rows.jsonl")
    ap.add_argument("--reference", required=True, help="the run folder name every generator is paired with")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    text = table(fit_rows(args.root), args.reference)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(args.out)
    print(text)


if __name__ == "__main__":
    main()
