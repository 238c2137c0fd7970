"""Tables from the summaries: cells, Markdown, LaTeX (booktabs), footers, and the one-line
reading of the best method per metric and mask."""
from __future__ import annotations

import math
from typing import Any, Sequence

from .rows import ok_rows
from .stats import DECIMALS, LOWER_IS_BETTER, METRIC_LABELS


def fmt_number(v: float, decimals: int) -> str:
    """A number with ``decimals`` decimals (NaN and infinities spelled out)."""
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
        d = 1 if percent else DECIMALS.get(r.metric, 3)
        k = 100.0 if percent else 1.0
        text = fmt_number(r.mean * k, d)
        if show_ci and r.n > 1 and r.ci_low == r.ci_low:
            text += f" [{fmt_number(r.ci_low * k, d)}, {fmt_number(r.ci_high * k, d)}]"
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


def table_footer(df, meta: dict[str, Any], output: str, reference: str, accuracy: bool = False,
                 n_boot: int = 2000) -> str:
    """The note under a table: what the cells are, what is scored, how many images and errors."""
    n = ok_rows(df)["image_id"].nunique()
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
