"""Image-by-image fit of generators against a reference (issue 14): which covers the held-out images better.

Each input is an ``inpaintkit gan-quality --fit N --json`` record, which holds the fit of every
image (``fit_psnr_images``: the known-pixel PSNR of the best ``G(z)``, center masks). Records are
paired only if they were fitted on the same images (data, split, ``fit_start``, ``fit_n``). For each
generator the table gives its median fit and, against the reference, the mean per-image difference,
the images it fits better, and the exact two-sided Wilcoxon signed-rank p.

    python benchmarks/gan_compare/fit_pairs.py old=old.json v4=v4.json [...] --reference old [--out table.md]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from curves import _named  # this folder is on sys.path when the script runs
from scipy.stats import wilcoxon


def _load(spec: str) -> tuple[str, dict]:
    name, p = _named(spec, "a record")
    rec = json.loads(p.read_text())
    if not rec.get("fit_psnr_images"):
        raise SystemExit(f"{p}: no per-image fit (fit_psnr_images); score it with gan-quality --fit N --json")
    return name, rec


def _images(rec: dict) -> tuple:
    return rec.get("data"), rec.get("split"), rec.get("fit_start"), rec.get("fit_n")


def table(records: dict[str, dict], reference: str) -> str:
    """The markdown table of every record against ``reference``."""
    if reference not in records:
        raise SystemExit(f"--reference {reference!r} is not one of {sorted(records)}")
    ref = records[reference]
    for name, rec in records.items():
        if _images(rec) != _images(ref):
            raise SystemExit(f"{name} was fitted on other images than {reference}: "
                             f"(data, split, fit_start, fit_n) {_images(rec)} against {_images(ref)}")
    r = ref["fit_psnr_images"]
    lines = [f"| generator | FD-R18 | fit, median (dB) | Δ fit vs {reference}, mean | images fitted better | "
             "Wilcoxon p |", "|---|---:|---:|---:|---:|---:|"]
    for name, rec in records.items():
        x = rec["fit_psnr_images"]
        d = [a - b for a, b in zip(x, r)]
        if name == reference:
            cells = ["", "", ""]
        else:
            p = wilcoxon(x, r, method="exact").pvalue if any(d) else 1.0
            cells = [f"{sum(d) / len(d):+.2f}", f"{sum(v > 0 for v in d)} of {len(d)}", f"{p:.3g}"]
        lines.append(f"| {name} | {rec['fd_r18']:.2f} | {rec['fit_psnr']:.2f} | " + " | ".join(cells) + " |")
    data, split, start, n = _images(ref)
    lines.append(f"\nFit on {data} ({split}) images {start}-{start + n - 1}, center masks.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("records", nargs="+", help="NAME=gan-quality.json")
    ap.add_argument("--reference", required=True)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    records = dict(_load(s) for s in args.records)
    if len(records) < 2:
        raise SystemExit("give at least two records (NAME=PATH) with distinct names")
    out = table(records, args.reference)
    sys.stdout.write(out)
    if args.out:
        tmp = args.out.with_suffix(args.out.suffix + ".tmp")
        tmp.write_text(out)
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
