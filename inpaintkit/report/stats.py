"""The statistics of the report: bootstrap intervals, paired tests, multiple-testing
correction, and the per-(method, mask, metric) summaries built from them."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .rows import metric_column, ok_rows

#: Metric columns of the rows and their names in tables (rows of the paper's layout).
METRIC_LABELS: dict[str, str] = {
    "psnr": "PSNR", "ssim": "SSIM", "psnr_hole": "PSNR hole", "ssim_hole": "SSIM hole",
    "l1": "L1", "l1_hole": "L1 hole", "lpips": "LPIPS",
}
#: Metrics where lower is better (the rest: higher is better).
LOWER_IS_BETTER = frozenset({"l1", "l1_hole", "lpips"})
#: The method every other one is tested against.
REFERENCE_METHOD = "yeh"
DECIMALS = {"psnr": 2, "psnr_hole": 2, "ssim": 3, "ssim_hole": 3, "l1": 4, "l1_hole": 4, "lpips": 4}


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


def summarize(df, *, output: str = "scored", reference: str = REFERENCE_METHOD,
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
    ok = ok_rows(df)
    methods = list(methods) if methods is not None else list(dict.fromkeys(df["method"]))
    masks = list(masks) if masks is not None else list(dict.fromkeys(df["mask"]))
    recs = []
    for mask in masks:
        at_mask = ok[ok["mask"] == mask]
        for metric in METRIC_LABELS:
            col = metric_column(metric, output)
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


def summarize_accuracy(df, *, reference: str = REFERENCE_METHOD,
                       methods: Sequence[str] | None = None, masks: Sequence[str] | None = None,
                       n_boot: int = 2000, seed: int = 0, alpha: float = 0.05):
    """Semantic accuracy per (mask, method): the evaluator's top-1 on the inpainted images.

    Adds a pseudo-method ``"uncorrupted"`` (the evaluator on the ground-truth images of the same
    rows), the ceiling any method can reach. Returns None when the rows carry no
    ``eval_correct`` column (the run had no ``--eval-classifier`` or no labels).
    """
    import pandas as pd

    if "eval_correct" not in df or df["eval_correct"].isna().all():
        return None
    ok = ok_rows(df)
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
