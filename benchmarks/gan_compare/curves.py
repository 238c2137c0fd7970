"""Overlay the per-snapshot quality curves of several GAN training runs (issue 14).

Each run's ``snapshots.csv`` (written by ``train-gan --fd-data ... [--fd-fit N]``) gives FD-R18 and,
where it was scored, the fit (median known-pixel PSNR of the best ``G(z)`` on N held-out images,
:func:`inpaintkit.quality.inversion_fit`) per snapshot. Finished generators scored by
``inpaintkit gan-quality --json`` on the same protocol are drawn as horizontal reference lines.
Runs are only comparable when they were scored on the same real images (``--fd-start``,
``--fd-n-real``, ``--fd-n``; and for the fit the same first images): the script checks the ``n`` and
``n_real`` columns and the references' ``start``/``n``/``n_real``; a reference's fit is drawn only if it was scored
on the first FD images (``gan-quality --fit-start`` equal to ``--start``), as ``--fd-fit`` does.

    python benchmarks/gan_compare/curves.py --run v2=benchmarks/models/stanford-cars-64/gan-v2-snapshots.csv \
        --run v3=runs/gan-stanford-cars-64-v3/snapshots.csv \
        --reference old=runs/gq/gan-stanford-cars-64-fit1000.json --out curves.png
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path


def _named(spec: str, what: str) -> tuple[str, Path]:
    """``NAME=PATH`` as a name and an existing file; ``what`` names the argument in errors ("--run")."""
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise SystemExit(f"{what} takes NAME=PATH, got {spec!r}")
    p = Path(path)
    if not p.is_file():
        raise SystemExit(f"{what} {name}: no file {p}")
    return name, p


def read_run(path: Path) -> list[dict[str, float]]:
    """The rows of a ``snapshots.csv`` as floats (an empty cell, e.g. an unscored fit, is NaN)."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "iter" not in rows[0] or "fd_r18" not in rows[0]:
        raise SystemExit(f"{path}: not a train-gan snapshots.csv (needs iter and fd_r18 columns)")
    return [{k: float(v) if v not in ("", None) else math.nan for k, v in r.items()} for r in rows]


def read_reference(path: Path) -> dict:
    """A ``gan-quality --json`` record: its FD-R18, fit and the protocol it was scored on."""
    rec = json.loads(path.read_text())
    if "fd_r18" not in rec:
        raise SystemExit(f"{path}: not a gan-quality --json record (no fd_r18)")
    cfg = rec.get("meta", {}).get("config", {})
    fit = rec.get("fit_psnr")
    if fit is not None and rec.get("fit_start", cfg.get("fit_start")) != cfg.get("start"):
        # train-gan --fd-fit N fits the first N FD images; a fit on other images is not comparable
        print(f"{path}: its fit was scored on images from {rec.get('fit_start')}, not on the FD images "
              f"from {cfg.get('start')} that train-gan --fd-fit uses; its fit line is left out", file=sys.stderr)
        fit = None
    return {"fd_r18": rec["fd_r18"], "fit_psnr": fit, "protocol": (cfg.get("start"), cfg.get("n_real"), cfg.get("n"))}


def check_protocols(runs: dict[str, list[dict]], refs: dict[str, dict]) -> None:
    """Refuse to overlay curves scored on different numbers of samples or real images."""
    seen = {(r["n"], r["n_real"]) for rows in runs.values() for r in rows}
    seen |= {(ref["protocol"][2], ref["protocol"][1]) for ref in refs.values()}
    if len(seen) > 1:
        raise SystemExit(f"the runs and references were scored with different (samples, real images): "
                         f"{sorted(seen)}; FD-R18 depends on both, so the curves are not comparable")


def plot(runs: dict[str, list[dict]], refs: dict[str, dict], out: Path, title: str) -> dict[str, list[str]]:
    """Draw the figure into ``out`` (atomically); return each panel's drawn series by name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_fit = any(not math.isnan(r.get("fit_psnr", math.nan)) for rows in runs.values() for r in rows) \
        or any(ref["fit_psnr"] is not None for ref in refs.values())
    fig, axes = plt.subplots(1, 2 if has_fit else 1, figsize=(11 if has_fit else 6, 4), squeeze=False,
                             sharex=True)
    panels = [("fd_r18", "FD-R18 (lower is better)")] + ([("fit_psnr", "fit, dB (higher is better)")] if has_fit else [])
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    drawn: dict[str, list[str]] = {}
    for ax, (key, label) in zip(axes[0], panels):
        drawn[key] = []
        for i, (name, rows) in enumerate(runs.items()):
            pts = [(r["iter"], r.get(key, math.nan)) for r in rows]
            pts = [(x, y) for x, y in pts if not math.isnan(y)]
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=3, color=colors[i % len(colors)], label=name)
                drawn[key].append(name)
        for j, (name, ref) in enumerate(refs.items()):
            if ref.get(key) is not None:
                ax.axhline(ref[key], ls="--", lw=1, color=colors[(len(runs) + j) % len(colors)], label=name)
                drawn[key].append(name)
        ax.set_xlabel("training iteration")
        ax.tick_params(labelbottom=True)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title + ("\nfit: median known-pixel PSNR of the best G(z) on held-out images "
                          "(inversion_fit)" if has_fit else ""), fontsize=9)
    fig.tight_layout()
    tmp = out.with_name(out.stem + ".tmp" + out.suffix)
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(out)
    return drawn


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", action="append", default=[], metavar="NAME=snapshots.csv", help="a training run")
    ap.add_argument("--reference", action="append", default=[], metavar="NAME=record.json",
                    help="a finished generator's gan-quality --json record, drawn as a line")
    ap.add_argument("--out", type=Path, required=True, help="the figure (.png)")
    ap.add_argument("--title", default="GAN snapshots: FD-R18 and fit")
    args = ap.parse_args(argv)
    if not args.run:
        ap.error("give at least one --run NAME=snapshots.csv")
    runs = dict(_named(s, "--run") for s in args.run)
    runs = {name: read_run(p) for name, p in runs.items()}
    refs = {name: read_reference(p) for name, p in (_named(s, "--reference") for s in args.reference)}
    check_protocols(runs, refs)
    plot(runs, refs, args.out, args.title)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
