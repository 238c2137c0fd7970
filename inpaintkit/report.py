"""Tables and figures derived from a benchmark run's rows (``inpaintkit report DIR``).

Everything here is computed from the raw rows in ``DIR/rows.jsonl`` (and the histories and images
the benchmark saved beside them); no aggregate is ever stored without its rows.

Tables follow the layout of Table 1 of the classifier-loss paper: methods as columns, (mask,
metric) as rows. Each cell is the mean over images with a 95% percentile-bootstrap confidence
interval (2000 resamples of the images, seeded so tables are reproducible). A method that differs
from ``yeh`` on the same images by a two-sided paired Wilcoxon signed-rank test at p < 0.05 is
marked with an arrow saying which way (``↑`` higher, ``↓`` lower mean). Semantic accuracy (the
independent evaluator's top-1) gets its own table, tested against ``yeh`` with the exact McNemar
test on the discordant pairs.

Written to ``DIR/report/``: ``table.md`` (also printed), ``table.csv`` (the tidy summary: one line
per method, mask and metric with mean, CI, n and p-value), ``table.tex`` (booktabs), and PNG
figures: a qualitative grid per mask, the averaged loss curves per term and method (as Fig. 3 of
the paper), and the per-image PSNR distributions.

References:
    Wilcoxon, Individual comparisons by ranking methods, 1945 (``scipy.stats.wilcoxon``).
    Efron & Tibshirani, An Introduction to the Bootstrap, 1993 (percentile intervals).
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ._rows import load_rows
from .utils import save_figure

__all__ = ["METRIC_LABELS", "REFERENCE_METHOD", "bootstrap_ci", "paired_wilcoxon", "mcnemar_exact",
           "summarize", "summarize_accuracy", "format_table", "markdown_table", "latex_table",
           "plot_grid", "plot_loss_curves", "plot_psnr_distribution", "make_report", "Report",
           "load_meta", "ReportError", "benjamini_hochberg", "LOWER_IS_BETTER"]

#: Metric columns of the rows and their names in tables (rows of the paper's layout).
METRIC_LABELS: dict[str, str] = {
    "psnr": "PSNR", "ssim": "SSIM", "psnr_hole": "PSNR hole", "ssim_hole": "SSIM hole",
    "l1": "L1", "l1_hole": "L1 hole", "lpips": "LPIPS",
}
#: Metrics where lower is better (the rest: higher is better).
LOWER_IS_BETTER = frozenset({"l1", "l1_hole", "lpips"})
#: The method every other one is tested against.
REFERENCE_METHOD = "yeh"
_DECIMALS = {"psnr": 2, "psnr_hole": 2, "ssim": 3, "ssim_hole": 3, "l1": 4, "l1_hole": 4, "lpips": 4}


# --- statistics -----------------------------------------------------------------------------------

def bootstrap_ci(values: Sequence[float], n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap confidence interval of the mean.

    Args:
        values: per-image values (non-finite values make the mean non-finite, as they should).
        n_boot: number of resamples.
        level: coverage, e.g. 0.95.
        seed: the resampling seed (fixed so a table never changes between two reports).

    Returns:
        ``(mean, low, high)``; NaN for no values, ``(v, v, v)`` for one value.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size == 1 or not np.isfinite(x).all():
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, (n_boot, x.size))].mean(1)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [a, 1.0 - a])
    return mean, float(lo), float(hi)


def paired_wilcoxon(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired samples; NaN when it is undefined.

    Pairs with a non-finite difference are dropped, zero differences too (Wilcoxon's convention).
    The exact null distribution is used for up to 50 pairs without tied magnitudes, otherwise
    the normal approximation with the tie correction (scipy's permutation fallback for ties is
    far too slow for a table of many cells). Identical samples give p = 1.
    """
    from scipy.stats import wilcoxon

    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    d = d[np.isfinite(d)]
    d = d[d != 0]
    if d.size == 0:
        return 1.0 if np.asarray(a).size else math.nan
    exact = d.size <= 50 and np.unique(np.abs(d)).size == d.size
    try:
        return float(wilcoxon(d, method="exact" if exact else "asymptotic").pvalue)
    except ValueError:
        return math.nan


def _direction(a: Sequence[float], b: Sequence[float]) -> str:
    """``"↑"`` when paired ``a`` lies above ``b``, ``"↓"`` below, ``""`` when undecided.

    Decided, like :func:`paired_wilcoxon`, on the finite non-zero paired differences: the sign of
    their median, or of their mean where the median is 0.
    """
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    d = d[np.isfinite(d) & (d != 0)]
    if d.size == 0:
        return ""
    s = float(np.median(d)) or float(d.mean())
    return "↑" if s > 0 else "↓" if s < 0 else ""


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Exact McNemar p-value of paired 0/1 data (two-sided binomial test on discordant pairs)."""
    from scipy.stats import binomtest

    a, b = np.asarray(a, bool), np.asarray(b, bool)
    n01, n10 = int((~a & b).sum()), int((a & ~b).sum())
    if n01 + n10 == 0:
        return 1.0
    return float(binomtest(n10, n01 + n10, 0.5).pvalue)


# --- summaries ------------------------------------------------------------------------------------

def load_meta(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``DIR/meta.json``, or ``{}`` when there is none (a hand-made rows file)."""
    p = Path(run_dir) / "meta.json"
    if not p.is_file():
        return {}
    try:
        meta = json.loads(p.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReportError(f"{p} is not a JSON file ({e}); it was edited or corrupted") from None
    return meta if isinstance(meta, dict) else {}


def _method_order(df, meta: dict[str, Any]) -> list[str]:
    seen = list(dict.fromkeys(df["method"]))
    declared = [m["name"] for m in meta.get("methods", []) if m["name"] in seen]
    return declared + [m for m in seen if m not in declared]


def _mask_order(df, meta: dict[str, Any]) -> list[str]:
    seen = list(dict.fromkeys(df["mask"]))
    declared = [m for m in meta.get("config", {}).get("masks", []) or [] if m in seen]
    return declared + [m for m in seen if m not in declared]


def _labels(df, meta: dict[str, Any]) -> dict[str, str]:
    labels = {m["name"]: m.get("label", m["name"]) for m in meta.get("methods", [])}
    if "method_label" in df:
        for name, label in zip(df["method"], df["method_label"]):
            if isinstance(label, str) and label:
                labels.setdefault(name, label)
    return {m: labels.get(m, m) for m in dict.fromkeys(df["method"])}


def _ok(df):
    if "error" not in df:
        return df
    err = df["error"].fillna("").astype(str)
    return df[err == ""]


def _metric_column(metric: str, output: str) -> str:
    return metric if output == "scored" else f"{metric}_overlay"


def summarize(df, output: str = "scored", reference: str = REFERENCE_METHOD,
              methods: Sequence[str] | None = None, masks: Sequence[str] | None = None,
              n_boot: int = 2000, seed: int = 0, alpha: float = 0.05):
    """The tidy summary behind the tables: one line per (mask, metric, method).

    Args:
        df: benchmark rows (see :mod:`inpaintkit.bench`); rows with an ``error`` are left out.
        output: ``"scored"`` (the columns ``psnr``...: blended output for the GAN searches when the
            run blended) or ``"overlay"`` (the plain composite, columns ``psnr_overlay``...).
        reference: the method each other one is tested against (paired by image).
        methods, masks: order (and selection); default: the order in the rows.
        alpha: significance level of the arrow markers.

    Returns:
        A DataFrame with columns mask, metric, method, n, mean, ci_low, ci_high, p_vs_<reference>
        and marker (``"↑"``/``"↓"`` where p < alpha, else ``""``).
    """
    import pandas as pd

    if output not in ("scored", "overlay"):
        raise ValueError(f"output must be 'scored' or 'overlay', got {output!r}")
    ok = _ok(df)
    methods = list(methods) if methods is not None else list(dict.fromkeys(df["method"]))
    masks = list(masks) if masks is not None else list(dict.fromkeys(df["mask"]))
    recs = []
    for mask in masks:
        at_mask = ok[ok["mask"] == mask]
        for metric in METRIC_LABELS:
            col = _metric_column(metric, output)
            if col not in at_mask:
                continue
            ref = at_mask[at_mask["method"] == reference].set_index("image_id")[col]
            for method in methods:
                sub = at_mask[at_mask["method"] == method]
                vals = sub[col].astype(float).to_numpy()
                vals = vals[~np.isnan(vals)]
                mean, lo, hi = bootstrap_ci(vals, n_boot=n_boot, seed=seed)
                p = math.nan
                if method != reference and len(ref):
                    mine = sub.set_index("image_id")[col]
                    common = mine.index.intersection(ref.index)
                    if len(common):
                        p = paired_wilcoxon(mine.loc[common].astype(float),
                                            ref.loc[common].astype(float))
                # the direction of the paired differences the test was run on (the images both
                # methods scored), not the method's mean over all its images
                direction = _direction(mine.loc[common].astype(float),
                                       ref.loc[common].astype(float)) if p == p else ""
                recs.append({"mask": mask, "metric": metric, "method": method, "n": int(vals.size),
                             "mean": mean, "ci_low": lo, "ci_high": hi,
                             f"p_vs_{reference}": p, "marker": direction})
    return _adjust(pd.DataFrame(recs), reference, alpha)


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate); NaN stays NaN.

    References:
        Benjamini and Hochberg, "Controlling the false discovery rate", JRSS B 57 (1995);
        computed by ``scipy.stats.false_discovery_control`` (SciPy >= 1.11).
    """
    from scipy.stats import false_discovery_control

    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = false_discovery_control(p[ok], method="bh")
    return out


def _adjust(summary, reference: str, alpha: float):
    """Add ``p_bh_vs_<reference>``, adjusted across every cell of the table, and keep a marker
    only where the adjusted p-value is below ``alpha``."""
    col = f"p_vs_{reference}"
    if summary.empty:
        return summary
    adj = benjamini_hochberg(summary[col].to_numpy())
    summary.insert(summary.columns.get_loc(col) + 1, f"p_bh_vs_{reference}", adj)
    keep = ~np.isnan(adj) & (adj < alpha)
    summary["marker"] = np.where(keep, summary["marker"], "")
    return summary


def summarize_accuracy(df, reference: str = REFERENCE_METHOD, methods: Sequence[str] | None = None,
                       masks: Sequence[str] | None = None, n_boot: int = 2000, seed: int = 0,
                       alpha: float = 0.05):
    """Semantic accuracy per (mask, method): the evaluator's top-1 on the inpainted images.

    Adds a pseudo-method ``"uncorrupted"`` (the evaluator on the ground-truth images of the same
    rows), the ceiling any method can reach. Returns None when the rows carry no
    ``eval_correct`` column (the run had no ``--eval-classifier`` or no labels).
    """
    import pandas as pd

    if "eval_correct" not in df or df["eval_correct"].isna().all():
        return None
    ok = _ok(df)
    ok = ok[ok["eval_correct"].notna()]
    methods = list(methods) if methods is not None else list(dict.fromkeys(df["method"]))
    masks = list(masks) if masks is not None else list(dict.fromkeys(df["mask"]))
    recs = []
    for mask in masks:
        at_mask = ok[ok["mask"] == mask]
        ref = at_mask[at_mask["method"] == reference].set_index("image_id")["eval_correct"]
        for method in methods:
            sub = at_mask[at_mask["method"] == method]
            vals = sub["eval_correct"].astype(bool).to_numpy()
            mean, lo, hi = bootstrap_ci(vals.astype(float), n_boot=n_boot, seed=seed)
            p, marker = math.nan, ""
            if method != reference and len(ref):
                mine = sub.set_index("image_id")["eval_correct"]
                common = mine.index.intersection(ref.index)
                if len(common):
                    p = mcnemar_exact(mine.loc[common].astype(bool), ref.loc[common].astype(bool))
                    higher = mine.loc[common].mean() > ref.loc[common].mean()
                    marker = "↑" if higher else "↓"  # kept where the adjusted p is below alpha
            recs.append({"mask": mask, "metric": "accuracy", "method": method, "n": int(vals.size),
                         "mean": mean, "ci_low": lo, "ci_high": hi, f"p_vs_{reference}": p,
                         "marker": marker})
        if "eval_correct_gt" in at_mask:
            gt = at_mask.drop_duplicates("image_id")["eval_correct_gt"].dropna().astype(float)
            mean, lo, hi = bootstrap_ci(gt.to_numpy(), n_boot=n_boot, seed=seed)
            recs.append({"mask": mask, "metric": "accuracy", "method": "uncorrupted",
                         "n": int(len(gt)), "mean": mean, "ci_low": lo, "ci_high": hi,
                         f"p_vs_{reference}": math.nan, "marker": ""})
    return _adjust(pd.DataFrame(recs), reference, alpha)


# --- formatting -----------------------------------------------------------------------------------

def _fmt(v: float, decimals: int) -> str:
    if v != v:
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{decimals}f}"


def format_table(summary, labels: dict[str, str] | None = None, show_ci: bool = True,
                 percent: bool = False, methods: Sequence[str] | None = None):
    """Cells ``"mean [low, high]marker"`` with methods as columns and (mask, metric) as rows.

    Args:
        summary: from :func:`summarize` (or :func:`summarize_accuracy`).
        labels: display names of the methods.
        percent: show values x 100 with one decimal (for accuracies).
        methods: column order (names as in ``summary``); default: order of appearance.
    """
    import pandas as pd

    labels = labels or {}
    present = list(dict.fromkeys(summary["method"]))
    methods = [m for m in (methods or present) if m in present]
    index = list(dict.fromkeys(zip(summary["mask"], summary["metric"])))
    cells = pd.DataFrame("", index=pd.MultiIndex.from_tuples(index, names=["mask", "metric"]),
                         columns=[labels.get(m, m) for m in methods])
    for r in summary.itertuples(index=False):
        if r.method not in methods:
            continue
        d = 1 if percent else _DECIMALS.get(r.metric, 3)
        k = 100.0 if percent else 1.0
        text = _fmt(r.mean * k, d)
        if show_ci and r.n > 1 and r.ci_low == r.ci_low:
            text += f" [{_fmt(r.ci_low * k, d)}, {_fmt(r.ci_high * k, d)}]"
        if r.n == 0:
            text = "–"
        cells.loc[(r.mask, r.metric), labels.get(r.method, r.method)] = text + r.marker
    cells.index = pd.MultiIndex.from_tuples(
        [(m, METRIC_LABELS.get(k, k)) for m, k in cells.index], names=["mask", "metric"])
    return cells


def markdown_table(cells, footer: str = "") -> str:
    """A GitHub-flavoured Markdown table of :func:`format_table` cells, with a footer paragraph."""
    head = ["mask", "metric", *map(str, cells.columns)]
    rule = "|" + "|".join(["---"] * 2 + ["---:"] * len(cells.columns)) + "|"
    lines = ["| " + " | ".join(head) + " |", rule]
    last = None
    for (mask, metric), row in cells.iterrows():
        shown = mask if mask != last else ""
        last = mask
        lines.append("| " + " | ".join([shown, metric, *map(str, row.tolist())]) + " |")
    return "\n".join(lines) + ("\n\n" + footer if footer else "") + "\n"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "↑": r"$^{\uparrow}$", "↓": r"$^{\downarrow}$", "–": "--"}


def _tex(s: str) -> str:
    return "".join(_TEX.get(c, c) for c in str(s))


def latex_table(cells, caption: str = "", label: str = "tab:inpainting") -> str:
    """A booktabs LaTeX table (``\\usepackage{booktabs}``) of :func:`format_table` cells."""
    ncol = len(cells.columns)
    out = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{ll" + "r" * ncol + "}",
           r"\toprule",
           " & ".join(["Mask", "Metric", *(_tex(c) for c in cells.columns)]) + r" \\", r"\midrule"]
    last = None
    for (mask, metric), row in cells.iterrows():
        if last is not None and mask != last:
            out.append(r"\midrule")
        shown = _tex(mask) if mask != last else ""
        last = mask
        out.append(" & ".join([shown, _tex(metric), *(_tex(v) for v in row.tolist())]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        out.append(r"\caption{" + _tex(caption) + "}")
    out += [r"\label{" + label + "}", r"\end{table}"]
    return "\n".join(out) + "\n"


def _scored_note(df, meta: dict[str, Any], output: str) -> str:
    if output == "overlay":
        return ("Scored output: the plain composite M*y + (1-M)*fill, not blended, for every "
                "method (the *_overlay columns).")
    kinds = dict(zip(df["method"], df.get("method_kind", ["search"] * len(df))))
    scored = set(df.loc[df["method"].map(kinds) == "search", "scored"].dropna()) \
        if "scored" in df else set(meta.get("config", {}).get("blend", []) or [])
    parts = []
    if scored:
        how = {"poisson": "Poisson-blended (SPEC.md, exact 4-connected solve)",
               "overlay": "the plain composite M*y + (1-M)*G(z), not blended"}
        parts.append("GAN searches: " + "; ".join(how.get(s, s) for s in sorted(scored)))
    if any(k == "baseline" for k in kinds.values()):
        parts.append("baselines: their own fill pasted into the known pixels, not blended")
    return "Scored output: " + ("; ".join(parts) if parts else "as recorded in the rows") + "."


def _footer(df, meta: dict[str, Any], output: str, reference: str, accuracy: bool = False,
            n_boot: int = 2000) -> str:
    n = _ok(df)["image_id"].nunique()
    errors = 0 if "error" not in df else int((df["error"].fillna("").astype(str) != "").sum())
    lines = [_scored_note(df, meta, output)] if not accuracy else [
        "Semantic accuracy: top-1 of the independent evaluator classifier on the scored output "
        "(in %); 'uncorrupted' is the evaluator on the ground truth."]
    lines.append(
        f"{n} images; mean over images with 95% percentile-bootstrap CI ({n_boot} resamples). "
        + ("Metrics on uint8 [0, 255] (scikit-image); SSIM: Gaussian window sigma 1.5, population "
           "covariance, data_range 255; 'hole' = the missing pixels only. " if not accuracy else "")
        + (f"↑/↓: differs from {reference} at p < 0.05 ("
           + ("exact McNemar" if accuracy else "two-sided paired Wilcoxon signed-rank")
           + ", paired by image; Benjamini-Hochberg adjusted across the table's cells)."
           + (" L1: mean absolute error in [0, 1], lower is better." if not accuracy else "")
           if (df["method"] == reference).any()
           else f"No {reference} column, so no significance test."))
    if errors:
        bad = df[df["error"].fillna("").astype(str) != ""]
        per = ", ".join(f"{m}: {c}" for m, c in bad.groupby("method").size().items())
        lines.append(f"{errors} (image, method, mask) rows failed and are left out ({per}); "
                     "see the error column of rows.jsonl.")
    return " ".join(lines)


# --- figures --------------------------------------------------------------------------------------

def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False) if not os.environ.get("MPLBACKEND") else None
    import matplotlib.pyplot as plt

    return plt


def _load_parts(run_dir: Path, files: Sequence[str]) -> dict[str, np.ndarray]:
    """Concatenate the npz parts named in the rows (orphans of killed batches are never read)."""
    out: dict[str, list[np.ndarray]] = {}
    for f in dict.fromkeys(files):
        p = run_dir / f
        if not p.is_file():
            continue
        with np.load(p, allow_pickle=False) as z:
            for k in z.files:
                out.setdefault(k, []).append(z[k])
    return {k: np.concatenate(v) if v[0].ndim else np.stack(v) for k, v in out.items()}


def plot_grid(run_dir: str | os.PathLike, mask: str, n_images: int = 6, df=None,
              out: str | os.PathLike | None = None, labels: dict[str, str] | None = None):
    """The qualitative grid of one mask: rows are images; columns the masked input, each method's
    scored output, and the ground truth. Returns the figure path, or None without saved images."""
    run_dir = Path(run_dir)
    df = load_rows(run_dir) if df is None else df
    meta = load_meta(run_dir)
    labels = labels or _labels(df, meta)
    inputs_file = run_dir / "images" / f"inputs__{_slug(mask)}.npz"
    sub = _ok(df[df["mask"] == mask])
    if not inputs_file.is_file() or "images_file" not in sub:
        return None
    with np.load(inputs_file) as z:
        inp = {k: z[k] for k in z.files}
    methods = _method_order(sub, meta)
    outputs = {}
    for m in methods:
        files = sub.loc[(sub["method"] == m) & sub["images_file"].notna(), "images_file"]
        parts = _load_parts(run_dir, list(files))
        if parts:
            outputs[m] = dict(zip(parts["ids"].tolist(), parts["output"]))
    ids = [int(i) for i in inp["ids"] if all(int(i) in o for o in outputs.values())][:n_images]
    if not ids or not outputs:
        return None
    plt = _plt()
    pos = {int(i): k for k, i in enumerate(inp["ids"])}
    cols = ["masked input", *[labels.get(m, m) for m in outputs], "ground truth"]
    fig, axes = plt.subplots(len(ids), len(cols), figsize=(1.5 * len(cols), 1.5 * len(ids) + 0.4),
                             squeeze=False)
    for r, i in enumerate(ids):
        target, known = inp["target"][pos[i]], inp["known"][pos[i]]
        masked = np.where(known[..., None], target, np.uint8(128))
        row = [masked, *[outputs[m][i] for m in outputs], target]
        for c, img in enumerate(row):
            ax = axes[r, c]
            ax.imshow(img, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(_wrap(cols[c]), fontsize=7)
        axes[r, 0].set_ylabel(f"#{i}", fontsize=7)
    fig.suptitle(f"mask {mask}", fontsize=9)
    fig.tight_layout()
    out = Path(out) if out else run_dir / "report" / f"grid_{_slug(mask)}.png"
    return save_figure(fig, out, dpi=110)


def _wrap(s: str, width: int = 18) -> str:
    return "\n".join(s[i:i + width] for i in range(0, len(s), width))


def loss_curves(run_dir: str | os.PathLike, df=None,
                ) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Average per-term loss curves: ``{(method, mask): {term: (iters,) mean over images}}``.

    Built from the per-batch history sums the benchmark saves; only batches whose rows succeeded
    are counted.
    """
    run_dir = Path(run_dir)
    df = load_rows(run_dir) if df is None else df
    if "history_file" not in df:
        return {}
    ok = _ok(df)
    curves = {}
    with_history = ok[ok["history_file"].notna()]
    for (method, mask), sub in with_history.groupby(["method", "mask"], sort=False):
        sums: dict[str, np.ndarray] = {}
        counts: dict[str, np.ndarray] = {}
        for f in dict.fromkeys(sub["history_file"]):
            p = run_dir / f
            if not p.is_file():
                continue
            with np.load(p) as z:
                for k in z.files:
                    if not k.startswith("sum__"):
                        continue
                    term = k[5:]
                    s, c = z[k], z["count__" + term]
                    if term in sums and len(sums[term]) != len(s):  # different iteration counts
                        n = max(len(sums[term]), len(s))
                        sums[term] = np.pad(sums[term], (0, n - len(sums[term])))
                        counts[term] = np.pad(counts[term], (0, n - len(counts[term])))
                        s, c = np.pad(s, (0, n - len(s))), np.pad(c, (0, n - len(c)))
                    sums[term] = sums.get(term, 0) + s
                    counts[term] = counts.get(term, 0) + c
        if sums:
            with np.errstate(invalid="ignore", divide="ignore"):
                curves[(method, mask)] = {t: sums[t] / counts[t] for t in sums}
    return curves


def plot_loss_curves(run_dir: str | os.PathLike, mask: str, df=None,
                     out: str | os.PathLike | None = None, labels: dict[str, str] | None = None):
    """Fig. 3 of the classifier-loss paper: one panel per search method, one line per loss term
    (unweighted, averaged over the images), against the iteration. Symmetric-log y axis, since
    the prior terms are negative. Returns the figure path, or None without histories."""
    run_dir = Path(run_dir)
    df = load_rows(run_dir) if df is None else df
    meta = load_meta(run_dir)
    labels = labels or _labels(df, meta)
    curves = {k: v for k, v in loss_curves(run_dir, df).items() if k[1] == mask}
    if not curves:
        return None
    plt = _plt()
    methods = [m for m in _method_order(df, meta) if (m, mask) in curves]
    fig, axes = plt.subplots(1, len(methods), figsize=(4 * len(methods), 3.2), squeeze=False,
                             sharey=True)
    from ._presets import ALL_TERMS

    terms = [t for t in ALL_TERMS if any(t in curves[(m, mask)] for m in methods)]
    terms += sorted({t for m in methods for t in curves[(m, mask)]} - set(terms) - {"total"})
    colors = {t: f"C{i}" for i, t in enumerate(terms)}  # one colour per term in every panel
    for ax, m in zip(axes[0], methods):
        for term in terms:
            curve = curves[(m, mask)].get(term)
            if curve is not None:
                ax.plot(np.arange(len(curve)), curve, label=term, lw=1.2, color=colors[term])
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_title(_wrap(labels.get(m, m), 40), fontsize=9)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("loss (unweighted, mean over images)")
    handles = {h.get_label(): h for ax in axes[0] for h in ax.get_lines()}
    shown = [t for t in terms if t in handles]
    axes[0, -1].legend([handles[t] for t in shown], shown, fontsize=7)
    fig.suptitle(f"loss terms during the search, mask {mask}", fontsize=10)
    fig.tight_layout()
    out = Path(out) if out else run_dir / "report" / f"loss_curves_{_slug(mask)}.png"
    return save_figure(fig, out, dpi=110)


def plot_psnr_distribution(run_dir: str | os.PathLike, df=None, output: str = "scored",
                           out: str | os.PathLike | None = None,
                           labels: dict[str, str] | None = None):
    """Box plots of the per-image PSNR (full image, top; hole, bottom) per method, one panel per
    mask. Returns the figure path."""
    run_dir = Path(run_dir)
    df = load_rows(run_dir) if df is None else df
    meta = load_meta(run_dir)
    labels = labels or _labels(df, meta)
    ok = _ok(df)
    masks, methods = _mask_order(df, meta), _method_order(df, meta)
    plt = _plt()
    width = max(4, 0.9 * len(methods) + 1) * len(masks)
    fig, axes = plt.subplots(2, len(masks), figsize=(width, 6), squeeze=False)
    for c, mask in enumerate(masks):
        for r, metric in enumerate(("psnr", "psnr_hole")):
            ax = axes[r, c]
            col = _metric_column(metric, output)
            data = [ok.loc[(ok["mask"] == mask) & (ok["method"] == m), col].astype(float).to_numpy()
                    if col in ok else np.array([]) for m in methods]
            data = [d[np.isfinite(d)] for d in data]
            ax.boxplot(data, showmeans=True)
            ax.set_xticks(range(1, len(methods) + 1),
                          [_wrap(labels.get(m, m), 12) for m in methods], fontsize=7)
            ax.set_title(f"{mask}: {METRIC_LABELS[metric]}", fontsize=9)
            ax.set_ylabel("dB")
            ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    out = Path(out) if out else run_dir / "report" / "psnr_distribution.png"
    return save_figure(fig, out, dpi=110)


def _slug(s: str) -> str:
    import hashlib

    return re.sub(r"[^A-Za-z0-9._-]+", "_", s)[:48] + "-" + hashlib.sha1(s.encode()).hexdigest()[:6]


# --- the report -----------------------------------------------------------------------------------

def reading(summary, labels: dict[str, str] | None = None,
            metrics: Sequence[str] = ("psnr_hole", "ssim_hole", "accuracy")) -> str:
    """One line that reads a summary: for each metric, which method had the best mean on each mask.

    Derived from the numbers only (highest mean wins, lowest for L1; ties are listed together; the
    ``uncorrupted`` ceiling is not a method). Example: ``hole PSNR: yeh on center (14.2 dB), im on
    left (12.1 dB); ...``.

    Args:
        summary: the frame of :func:`summarize`, optionally concatenated with
            :func:`summarize_accuracy`'s.
        labels: display names of the methods.
        metrics: which metrics to read, in order; missing ones are skipped.
    """
    labels = labels or {}
    names = {"psnr_hole": "hole PSNR", "ssim_hole": "hole SSIM", "psnr": "PSNR", "ssim": "SSIM",
             "accuracy": "semantic accuracy"}
    parts = []
    for metric in metrics:
        sub = summary[(summary["metric"] == metric) & (summary["method"] != "uncorrupted")]
        sub = sub[sub["mean"].notna()]
        if sub.empty:
            continue
        cells = []
        for mask in dict.fromkeys(sub["mask"]):
            at = sub[sub["mask"] == mask]
            sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
            best = (sign * at["mean"]).max()
            fmt = _format_value(metric, sign * best)
            won = [labels.get(m, m) for m in at.loc[sign * at["mean"] >= best - 1e-12, "method"]]
            cells.append(f"{' = '.join(won)} on {mask} ({fmt})")
        parts.append(f"{names.get(metric, metric)} best: " + ", ".join(cells))
    return "; ".join(parts) + "." if parts else ""


def _format_value(metric: str, value: float) -> str:
    if metric == "accuracy":
        return f"{100 * value:.0f}%"
    if metric.startswith("psnr"):
        return f"{value:.2f} dB"
    return f"{value:.3f}"


@dataclass
class Report:
    """What :func:`make_report` produced: the Markdown text and the files it wrote."""

    markdown: str
    summary: Any  # pandas DataFrame
    files: list[Path] = field(default_factory=list)
    #: one line naming the best method per metric and mask (:func:`reading`)
    reading: str = ""

    @property
    def grids(self) -> list[Path]:
        """The qualitative grid PNGs, one per mask."""
        return [f for f in self.files if f.name.startswith("grid_") and f.suffix == ".png"]


def _breakdowns(df, out_dir: Path, reference: str, methods, masks, labels, output: str, n_boot: int,
                seed: int) -> tuple[str, list[Path]]:
    """The paired-difference and hole-size sections of the report, and their CSV files."""
    from .utils import atomic_write_text
    from .breakdowns import hole_ratio_table, markdown_breakdown, paired_differences

    md, files = "", []
    diffs = paired_differences(df, reference, methods=methods, masks=masks, output=output,
                               n_resamples=n_boot, seed=seed)
    if not diffs.empty:
        def cell(r):
            d = _DECIMALS.get(r["key"], 3)
            return f"{r['diff']:+.{d}f} [{_fmt(r['ci_low'], d)}, {_fmt(r['ci_high'], d)}]"

        diffs = diffs.assign(metric_label=diffs["metric"].map(lambda m: METRIC_LABELS.get(m, m)))
        md += (f"\n### Paired differences against {reference}\n\n"
               + markdown_breakdown(diffs.rename(columns={"metric": "key", "metric_label": "metric"}),
                                    ("mask", "metric"), labels, fmt=cell)
               + f"\nMean of the per-image differences (method - {reference}) over the images both "
               f"scored, with a 95% BCa bootstrap CI ({n_boot} resamples, scipy.stats.bootstrap); "
               f"an interval that excludes 0 gives the sign of the difference and bounds its size.\n")
        files.append(out_dir / "differences.csv")
        atomic_write_text(files[-1], diffs.drop(columns="metric_label").to_csv(index=False))
    holes = hole_ratio_table(df, methods=methods, masks=masks)
    if not holes.empty:
        def mean_n(r):
            return f"{_fmt(r['mean'], _DECIMALS.get(r['key'], 3))} ({r['n']})"

        shown = holes.assign(key=holes["metric"],
                             metric=holes["metric"].map(lambda m: METRIC_LABELS.get(m, m)))
        md += ("\n### By hole size\n\n"
               + markdown_breakdown(shown, ("mask", "hole", "metric"), labels, fmt=mean_n)
               + "\nMean (images) per bin of the hole ratio (the fraction of missing pixels), for the "
               "masks whose hole size varies from image to image, in LaMa's 10% bins.\n")
        files.append(out_dir / "hole_ratio.csv")
        atomic_write_text(files[-1], holes.to_csv(index=False))
    return md, files


def _distribution(run_dir: Path, df, meta, out_dir: Path, methods, masks, labels, evaluator,
                  seed: int, echo) -> tuple[str, list[Path]]:
    """The FD-R18 / KID section: from the saved outputs, with the run's (or the given) evaluator."""
    from .utils import atomic_write_text
    from .breakdowns import markdown_breakdown
    from .distribution import output_distribution, resolve_evaluator

    path = resolve_evaluator(meta, evaluator)
    if path is None:
        return "", []
    try:
        dist = output_distribution(run_dir, df, path, methods=methods, masks=masks, seed=seed)
    except (ValueError, OSError) as e:  # CheckpointError, a missing file...
        if evaluator is not None:  # asked for by name: an error, not a note
            raise ReportError(f"--fd-evaluator {evaluator}: {e}") from e
        if echo is not None:
            echo(f"note: no FD-R18/KID: the evaluator {path} could not be used ({e})")
        return "", []
    if dist.empty:
        return "", []
    table = dist.assign(metric="FD-R18 / KID x1000")
    md = ("\n### Distribution of the outputs\n\n"
          + markdown_breakdown(table, ("mask", "metric"), labels,
                               fmt=lambda r: f"{r['fd_r18']:.2f} / {1000 * r['kid']:.2f} ({r['n']})")
          + f"\nFD-R18 (Fréchet distance on the pooled deepest features of the evaluator "
          f"{path.name}; not FID) and KID x1000 of each method's outputs against the ground truth "
          f"of the same images (their number in brackets: the images whose outputs the run saved, "
          f"bench --save-images -1 keeps all). Lower is better; with fewer images than feature "
          f"channels FD-R18 is biased upwards, so compare within a run.\n")
    p = out_dir / "distribution.csv"
    atomic_write_text(p, dist.to_csv(index=False))
    return md, [p]


class ReportError(ValueError):
    """A run whose rows cannot be reported: every row failed, or a meta.json that is not JSON."""


def _rows_to_report(run_dir: Path, echo: Callable[[str], None] | None):
    """The rows of a run, with a warning for a cut-short last line and an error when none worked."""
    from ._rows import incomplete_rows

    df = load_rows(run_dir)
    for path in incomplete_rows(run_dir):
        msg = (f"warning: {path} ends with an incomplete line (a run killed while writing); it is "
               f"left out, and {len(df)} complete rows were read")
        if echo is not None:
            echo(msg)
        else:
            import warnings

            warnings.warn(msg, RuntimeWarning, stacklevel=3)
    ok = _ok(df)
    if ok.empty:
        first = str(df["error"].iloc[0]) if "error" in df else "?"
        raise ReportError(f"every one of the {len(df)} rows in {run_dir} failed, so there is nothing "
                          f"to report; the first error: {' '.join(first.split())[:300]}")
    return df


def make_report(run_dir: str | os.PathLike, compare: str | os.PathLike | None = None,
                output: str = "scored", figures: bool = True, reference: str = REFERENCE_METHOD,
                out_dir: str | os.PathLike | None = None, seed: int = 0, n_boot: int = 2000,
                echo: Callable[[str], None] | None = print, distribution: bool = True,
                evaluator: str | os.PathLike | None = None) -> Report:
    """Derive every table and figure of a run from its rows, print the Markdown and save it all.

    Args:
        run_dir: a ``inpaintkit bench`` output directory (or any directory with ``rows.jsonl``).
        compare: another run directory to put side by side (its columns suffixed with its name).
        output: ``"scored"`` or ``"overlay"``; see :func:`summarize`.
        figures: also draw the PNG figures.
        reference: the method others are tested against.
        out_dir: where to write; default ``run_dir/report``.
        seed, n_boot: the bootstrap's seed and number of resamples.
        echo: called with the Markdown (None to stay quiet).
        distribution: add FD-R18 and KID of the saved outputs per (method, mask)
            (:mod:`inpaintkit.distribution`), when there is an evaluator.
        evaluator: the evaluator classifier for them; default the run's ``--eval-classifier``.

    Returns:
        A :class:`Report`.

    Raises:
        FileNotFoundError: the directory or its rows are missing.
    """
    import pandas as pd

    run_dir = Path(run_dir)
    df = _rows_to_report(run_dir, echo)
    meta = load_meta(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    methods, masks, labels = _method_order(df, meta), _mask_order(df, meta), _labels(df, meta)
    summary = summarize(df, output=output, reference=reference, methods=methods, masks=masks,
                        n_boot=n_boot, seed=seed)
    summary.insert(0, "run", run_dir.name)
    title = f"## Inpainting benchmark: {run_dir.name}"
    cells = format_table(summary, labels)
    footer = _footer(df, meta, output, reference, n_boot=n_boot)
    acc = summarize_accuracy(df, reference=reference, methods=methods, masks=masks, n_boot=n_boot,
                             seed=seed)

    if compare is not None:
        other_dir = Path(compare)
        odf = _rows_to_report(other_dir, echo)
        ometa = load_meta(other_dir)
        osum = summarize(odf, output=output, reference=reference, methods=_method_order(odf, ometa),
                         masks=_mask_order(odf, ometa), n_boot=n_boot, seed=seed)
        osum.insert(0, "run", other_dir.name)
        a, b = run_dir.name, other_dir.name
        if a == b:
            a, b = str(run_dir), str(other_dir)
        olabels = _labels(odf, ometa)
        sa = summary.assign(method=summary["method"].map(lambda m: f"{labels.get(m, m)} ({a})"))
        sb = osum.assign(method=osum["method"].map(lambda m: f"{olabels.get(m, m)} ({b})"))
        names = list(dict.fromkeys([labels.get(m, m) for m in methods]
                                   + [olabels.get(m, m) for m in dict.fromkeys(osum["method"])]))
        order = [f"{n} ({r})" for n in names for r in (a, b)]
        cells = format_table(pd.concat([sa, sb], ignore_index=True), methods=order)
        title = f"## Inpainting benchmark: {a} vs {b}"
        footer += (f" Side by side: columns suffixed ({a}) come from {run_dir}, ({b}) from "
                   f"{other_dir}; significance marks are within each run.")
        summary = pd.concat([summary, osum], ignore_index=True)

    from .utils import atomic_write_text

    md = title + "\n\n" + markdown_table(cells, footer)
    tex = latex_table(cells, caption=footer)
    tidy = summary
    if acc is not None and compare is None:
        acc_cells = format_table(acc, {**labels, "uncorrupted": "uncorrupted"}, percent=True)
        acc_footer = _footer(df, meta, output, reference, accuracy=True, n_boot=n_boot)
        md += "\n### Semantic accuracy\n\n" + markdown_table(acc_cells, acc_footer)
        tex += "\n" + latex_table(acc_cells, caption=acc_footer, label="tab:semantic-accuracy")
        tidy = pd.concat([summary, acc.assign(run=run_dir.name)], ignore_index=True)
    files = []
    if compare is None:
        extra_md, extra_files = _breakdowns(df, out_dir, reference, methods, masks, labels, output,
                                            n_boot, seed)
        md += extra_md
        files += extra_files
        if distribution:
            extra_md, extra_files = _distribution(run_dir, df, meta, out_dir, methods, masks, labels,
                                                  evaluator, seed, echo)
            md += extra_md
            files += extra_files
    stem = "compare_" + _slug(Path(compare).name) if compare is not None else "table"
    for suffix, text in ((".md", md), (".csv", tidy.to_csv(index=False)), (".tex", tex)):
        files.append(out_dir / f"{stem}{suffix}")
        atomic_write_text(files[-1], text)
    if figures and compare is None:
        for mask in masks:
            for name, fn in (("grid", plot_grid), ("loss_curves", plot_loss_curves)):
                path = out_dir / f"{name}_{_slug(mask)}.png"
                f = fn(run_dir, mask, df=df, labels=labels, out=path)
                if f is not None:
                    files.append(f)
        files.append(plot_psnr_distribution(run_dir, df=df, output=output, labels=labels,
                                            out=out_dir / "psnr_distribution.png"))
    from .utils import atomic_write_json, run_metadata

    p = out_dir / "report_meta.json"
    atomic_write_json(p, run_metadata({
        "run_dir": str(run_dir), "compare": None if compare is None else str(compare),
        "output": output, "figures": figures, "reference": reference, "seed": seed,
        "n_boot": n_boot}))
    files.append(p)
    if echo is not None:
        echo(md)
    line = reading(tidy, labels) if compare is None else ""
    return Report(markdown=md, summary=summary, files=files, reading=line)
