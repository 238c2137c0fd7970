"""Tables beside the main one: results by hole size, and paired differences against the reference.

Both are derived from a run's rows like every other table (:mod:`inpaintkit.report` adds them to
the report):

- :func:`hole_ratio_table`: for masks whose hole size varies from image to image (LaMa-style
  strokes, per-image mask files, random blocks), the mean of a metric per hole-ratio bin of 10%,
  as LaMa's evaluator groups its results.
- :func:`paired_differences`: per (mask, metric, method), the mean of the per-image differences
  to the reference method with a bias-corrected and accelerated (BCa) bootstrap CI, the interval
  that says how much better or worse a method is, where the table's arrows only say whether.

References:
    Suvorov et al., "Resolution-robust Large Mask Inpainting with Fourier Convolutions", WACV
    2022 (the hole-ratio bins of the evaluation). Efron, "Better bootstrap confidence intervals",
    JASA 82 (1987) (BCa), computed by ``scipy.stats.bootstrap``.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .report.rows import metric_column, ok_rows

__all__ = ["HOLE_BINS", "hole_ratio_table", "paired_differences", "bca_ci", "markdown_breakdown"]

#: Bin edges of the hole ratio (fraction of missing pixels): 0-10%, 10-20%, ..., 90-100%.
HOLE_BINS = tuple(round(0.1 * k, 1) for k in range(11))


def _bin_label(lo: float, hi: float) -> str:
    return f"{round(100 * lo)}-{round(100 * hi)}%"


def hole_ratio_table(df, metrics: Sequence[str] = ("psnr_hole", "l1_hole"),
                     methods: Sequence[str] | None = None, masks: Sequence[str] | None = None):
    """Mean of each metric per (mask, hole-ratio bin, method), for masks of varying hole size.

    Args:
        df: benchmark rows with a ``hole_fraction`` column; failed rows are left out.
        metrics: metric columns to break down (missing ones are skipped).
        methods, masks: order and selection; default: the order in the rows. Masks whose hole
            fraction is the same for every image (``center``, ``left``...) are left out.

    Returns:
        A DataFrame with columns mask, hole (e.g. ``"10-20%"``), metric, method, n, mean; empty
        when no mask varies.
    """
    import pandas as pd

    ok = ok_rows(df)
    cols = ["mask", "hole", "metric", "method", "n", "mean"]
    if "hole_fraction" not in ok or ok.empty:
        return pd.DataFrame(columns=cols)
    methods = list(methods) if methods is not None else list(dict.fromkeys(ok["method"]))
    masks = list(masks) if masks is not None else list(dict.fromkeys(ok["mask"]))
    edges = np.asarray(HOLE_BINS)
    recs = []
    for mask in masks:
        at = ok[ok["mask"] == mask]
        frac = at["hole_fraction"].astype(float)
        if at.empty or frac.nunique() < 2:
            continue
        # a hole of exactly 10% belongs to 0-10%; the first bin includes 0
        which = np.clip(np.searchsorted(edges, frac.to_numpy(), side="left") - 1, 0, len(edges) - 2)
        at = at.assign(_bin=which)
        for b in sorted(set(which.tolist())):
            in_bin = at[at["_bin"] == b]
            for metric in metrics:
                if metric not in in_bin:
                    continue
                for method in methods:
                    v = in_bin.loc[in_bin["method"] == method, metric].astype(float)
                    v = v[np.isfinite(v)]
                    if len(v):
                        recs.append({"mask": mask, "hole": _bin_label(edges[b], edges[b + 1]),
                                     "metric": metric, "method": method, "n": int(len(v)),
                                     "mean": float(v.mean())})
    return pd.DataFrame(recs, columns=cols)


def bca_ci(values: Sequence[float], level: float = 0.95, n_resamples: int = 2000,
           seed: int = 0) -> tuple[float, float, float]:
    """Mean and BCa bootstrap CI of the mean (``scipy.stats.bootstrap``).

    Returns ``(mean, low, high)``; NaN for no values, ``(v, v, v)`` when every value is ``v``
    (the interval of a constant is the constant; BCa itself is undefined there).
    """
    from scipy.stats import bootstrap

    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if x.size < 2 or np.ptp(x) == 0:
        return (mean, mean, mean)
    res = bootstrap((x,), np.mean, confidence_level=level, n_resamples=n_resamples,
                    method="BCa", random_state=np.random.default_rng(seed), vectorized=True)
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return mean, lo, hi


def paired_differences(df, reference: str = "yeh",
                       metrics: Sequence[str] = ("psnr", "ssim", "psnr_hole", "ssim_hole", "l1",
                                                 "l1_hole", "lpips"),
                       methods: Sequence[str] | None = None, masks: Sequence[str] | None = None,
                       output: str = "scored", n_resamples: int = 2000, seed: int = 0):
    """Per (mask, metric, method): the mean paired difference ``method - reference`` over the
    images both scored, with its 95% BCa bootstrap CI.

    Args:
        df: benchmark rows; failed rows are left out.
        reference: the method subtracted.
        output: ``scored`` or ``overlay`` (the ``*_overlay`` columns).

    Returns:
        A DataFrame with columns mask, metric, method, n, diff, ci_low, ci_high; empty when the
        rows have no ``reference`` method.
    """
    import pandas as pd

    ok = ok_rows(df)
    cols = ["mask", "metric", "method", "n", "diff", "ci_low", "ci_high"]
    if ok.empty or not (ok["method"] == reference).any():
        return pd.DataFrame(columns=cols)
    methods = list(methods) if methods is not None else list(dict.fromkeys(ok["method"]))
    masks = list(masks) if masks is not None else list(dict.fromkeys(ok["mask"]))
    recs = []
    for mask in masks:
        at = ok[ok["mask"] == mask]
        for metric in metrics:
            col = metric_column(metric, output)
            if col not in at:
                continue
            ref = at[at["method"] == reference].set_index("image_id")[col].astype(float)
            for method in methods:
                if method == reference:
                    continue
                mine = at[at["method"] == method].set_index("image_id")[col].astype(float)
                common = mine.index.intersection(ref.index)
                d = (mine.loc[common] - ref.loc[common]).to_numpy()
                d = d[np.isfinite(d)]
                if d.size == 0:
                    continue
                mean, lo, hi = bca_ci(d, n_resamples=n_resamples, seed=seed)
                recs.append({"mask": mask, "metric": metric, "method": method, "n": int(d.size),
                             "diff": mean, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(recs, columns=cols)


def markdown_breakdown(table, index: Sequence[str], labels: dict[str, str] | None = None,
                       fmt=lambda r: f"{r['mean']:.3f}") -> str:
    """A Markdown table with methods as columns and ``index`` columns as rows; ``fmt`` formats a
    record (a row of ``table``) into a cell."""
    labels = labels or {}
    methods = list(dict.fromkeys(table["method"]))
    keys = list(dict.fromkeys(map(tuple, table[list(index)].to_numpy().tolist())))
    cells = {(tuple(r[k] for k in index), r["method"]): fmt(r) for r in table.to_dict("records")}
    head = "| " + " | ".join([*index, *(labels.get(m, m) for m in methods)]) + " |"
    sep = "|" + "---|" * len(index) + "---:|" * len(methods)
    lines = [head, sep]
    for key in keys:
        lines.append("| " + " | ".join([*map(str, key), *(cells.get((key, m), "") for m in methods)])
                     + " |")
    return "\n".join(lines) + "\n"
