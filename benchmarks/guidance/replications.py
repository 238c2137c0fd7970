"""`--preset best` against `--preset fast` on each image set where both ran at one commit: a figure.

    python benchmarks/guidance/replications.py --out benchmarks/results/guidance/replications.png

Reads committed rows only: val 100-199 (`benchmarks/results/gan-compare/{best,fast}-v4/`, the old
generator, commit fb1b030), the test images 0-99 (`benchmarks/results/paper-table1/p1-best-sem/`)
and val 300-399 (`benchmarks/results/guidance/confirm-300-399/`). For each set and mask, and pooled
over the masks: the mean hole-PSNR difference best - fast with its paired 95% t-interval, and the
difference in semantic accuracy (percentage points) with a 95% interval for paired proportions
(Wald, from the discordant counts). Also writes the numbers as a Markdown table next to the figure.
"""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

_spec = importlib.util.spec_from_file_location("guidance_analyze", Path(__file__).with_name("analyze.py"))
analyze = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(analyze)

ROOT = Path(__file__).resolve().parents[2]
R = ROOT / "benchmarks" / "results"
BEST = "context,prior,sem[known]=auto:1"
FAST = "context,prior"


def _read(path: Path, run: str | None = None) -> pd.DataFrame:
    rows = (pd.read_json(path, lines=True, dtype={"run": str}) if path.suffix == ".jsonl"
            else pd.read_csv(path))
    if run is not None:
        rows = rows[rows.run == run]
    return rows[rows.method.isin([BEST, FAST])]


def image_sets() -> dict[str, pd.DataFrame]:
    """Each image set's search rows of both presets (4 averaged restarts each)."""
    return {
        "val 100-199": pd.concat([_read(R / "gan-compare/best-v4/rows.jsonl", "old"),
                                  _read(R / "gan-compare/fast-v4/rows.jsonl", "old")]),
        "test 0-99": _read(R / "paper-table1/p1-best-sem/rows.csv"),
        "val 300-399": _read(R / "guidance/confirm-300-399/rows.jsonl"),
    }


def paired(rows: pd.DataFrame, method: str = BEST, reference: str = FAST) -> dict[str, float]:
    """``method`` - ``reference`` on the (mask, image) pairs both have: hole PSNR and accuracy, with
    95% intervals (``lost``: only the reference right; ``gained``: only the method right)."""
    rows = rows[rows.method.isin([method, reference])]
    wide = rows.pivot_table(index=["mask", "image_id"], columns="method",
                            values=["psnr_hole", "eval_correct"], aggfunc="first").dropna()
    d = (wide["psnr_hole"][method] - wide["psnr_hole"][reference]).to_numpy(float)
    n = len(d)
    lost, gained, p = analyze.mcnemar(wide["eval_correct"][reference].astype(bool),
                                      wide["eval_correct"][method].astype(bool))
    acc = (gained - lost) / n
    acc_half = 1.96 * np.sqrt(max(lost + gained - (gained - lost) ** 2 / n, 0.0)) / n
    return {"n": n, "psnr": d.mean(), "psnr_half": analyze.ci_half(d), "acc": 100 * acc,
            "acc_half": 100 * acc_half, "lost": lost, "gained": gained, "p": p}


def summary() -> pd.DataFrame:
    out = []
    for name, rows in image_sets().items():
        for mask in ["center", "left", "random:0.7", "pooled"]:
            part = rows if mask == "pooled" else rows[rows["mask"] == mask]
            out.append({"images": name, "mask": mask, **paired(part)})
    return pd.DataFrame(out)


def markdown(s: pd.DataFrame, first: str = "images", method: str = "best", reference: str = "fast") -> str:
    """``s`` (from :func:`paired` per row) as a Markdown table; ``first`` heads the ``images`` column."""
    who = f"{method} - {reference}"
    lines = [f"| {first} | mask | n | hole PSNR {who} [95% CI] | accuracy {who}, points [95% CI] "
             f"| only {reference} right / only {method} right, McNemar p |", "|---|---|---:|---|---|---|"]
    for r in s.itertuples():
        lines.append(f"| {r.images} | {r.mask} | {r.n} | {r.psnr:+.2f} [{r.psnr - r.psnr_half:+.2f}, "
                     f"{r.psnr + r.psnr_half:+.2f}] | {r.acc:+.1f} [{r.acc - r.acc_half:+.1f}, "
                     f"{r.acc + r.acc_half:+.1f}] | {r.lost} / {r.gained}, p = {r.p:.2g} |")
    return "\n".join(lines) + "\n"


def forest(s: pd.DataFrame, out: Path, labels: list[str], colours: list[str], who: str,
           title: str) -> None:
    """Two panels of paired differences with their 95% intervals, one line per row of ``s`` (columns
    ``psnr``, ``psnr_half``, ``acc``, ``acc_half``, ``mask``): hole PSNR (dB) and semantic accuracy
    (points). Pooled rows are drawn as larger diamonds. ``who`` names the difference, e.g.
    ``best - fast``. Written atomically to ``out``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 0.9 + 0.27 * len(s)), sharey=True)
    y = np.arange(len(s))[::-1]
    for ax, col, half, name in [(axes[0], "psnr", "psnr_half", f"hole PSNR, {who} (dB)"),
                                (axes[1], "acc", "acc_half", f"semantic accuracy, {who} (points)")]:
        for yi, colour, r in zip(y, colours, s.itertuples()):
            pooled = r.mask == "pooled"
            ax.errorbar(getattr(r, col), yi, xerr=getattr(r, half), fmt="D" if pooled else "o",
                        color=colour, ms=7 if pooled else 4, capsize=2)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_title(name, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, labels, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    tmp = out.with_name(out.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(out)


def figure(s: pd.DataFrame, out: Path) -> None:
    colours = {"val 100-199": "tab:blue", "test 0-99": "tab:orange", "val 300-399": "tab:green"}
    forest(s, out, [f"{r.images}, {r.mask}" for r in s.itertuples()], [colours[i] for i in s.images],
           "best - fast", "--preset best (sem[known]) against --preset fast, 95% intervals: "
           "the hole-PSNR gain replicates, the accuracy gain does not")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(R / "guidance" / "replications.png"))
    args = ap.parse_args()
    out = Path(args.out)
    s = summary()
    text = markdown(s)
    md = out.with_suffix(".md")
    shown = out.resolve().relative_to(ROOT) if out.resolve().is_relative_to(ROOT) else out
    analyze.write_text(md, f"Made by `python benchmarks/guidance/replications.py --out {shown}`.\n\n" + text)
    figure(s, out)
    print(text)


if __name__ == "__main__":
    main()
