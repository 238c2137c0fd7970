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

Layout: :mod:`~inpaintkit.report.rows` (reading a run), :mod:`~inpaintkit.report.stats` (tests,
intervals, summaries), :mod:`~inpaintkit.report.tables` (Markdown, LaTeX, the reading line),
:mod:`~inpaintkit.report.figures`; :func:`make_report` here puts them together.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..bench.rundir import slug
from .figures import plot_grid, plot_loss_curves, plot_psnr_distribution
from .rows import ReportError, load_meta, mask_order, method_labels, method_order, rows_to_report
from .stats import (
    DECIMALS,
    LOWER_IS_BETTER,
    METRIC_LABELS,
    REFERENCE_METHOD,
    benjamini_hochberg,
    bootstrap_ci,
    mcnemar_exact,
    paired_wilcoxon,
    summarize,
    summarize_accuracy,
)
from .tables import fmt_number, format_table, latex_table, markdown_table, reading, table_footer

__all__ = ["METRIC_LABELS", "REFERENCE_METHOD", "bootstrap_ci", "paired_wilcoxon", "mcnemar_exact",
           "summarize", "summarize_accuracy", "format_table", "markdown_table", "latex_table",
           "plot_grid", "plot_loss_curves", "plot_psnr_distribution", "make_report", "Report",
           "load_meta", "ReportError", "benjamini_hochberg", "LOWER_IS_BETTER"]


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


def _breakdowns(df, out_dir: Path, reference: str, *, methods, masks, labels, output: str,
                n_boot: int, seed: int) -> tuple[str, list[Path]]:
    """The paired-difference and hole-size sections of the report, and their CSV files."""
    from ..breakdowns import hole_ratio_table, markdown_breakdown, paired_differences
    from ..utils import atomic_write_text

    md, files = "", []
    diffs = paired_differences(df, reference, methods=methods, masks=masks, output=output,
                               n_resamples=n_boot, seed=seed)
    if not diffs.empty:
        def cell(r):
            d = DECIMALS.get(r["key"], 3)
            return f"{r['diff']:+.{d}f} [{fmt_number(r['ci_low'], d)}, {fmt_number(r['ci_high'], d)}]"

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
            return f"{fmt_number(r['mean'], DECIMALS.get(r['key'], 3))} ({r['n']})"

        shown = holes.assign(key=holes["metric"],
                             metric=holes["metric"].map(lambda m: METRIC_LABELS.get(m, m)))
        md += ("\n### By hole size\n\n"
               + markdown_breakdown(shown, ("mask", "hole", "metric"), labels, fmt=mean_n)
               + "\nMean (images) per bin of the hole ratio (the fraction of missing pixels), for the "
               "masks whose hole size varies from image to image, in LaMa's 10% bins.\n")
        files.append(out_dir / "hole_ratio.csv")
        atomic_write_text(files[-1], holes.to_csv(index=False))
    return md, files


def _distribution(run_dir: Path, df, meta, out_dir: Path, *, methods, masks, labels, evaluator,
                  seed: int, echo) -> tuple[str, list[Path]]:
    """The FD-R18 / KID section: from the saved outputs, with the run's (or the given) evaluator."""
    from ..breakdowns import markdown_breakdown
    from ..distribution import output_distribution, resolve_evaluator
    from ..utils import atomic_write_text

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


def make_report(run_dir: str | os.PathLike, compare: str | os.PathLike | None = None, *,
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
    df = rows_to_report(run_dir, echo)
    meta = load_meta(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    methods, masks, labels = method_order(df, meta), mask_order(df, meta), method_labels(df, meta)
    summary = summarize(df, output=output, reference=reference, methods=methods, masks=masks,
                        n_boot=n_boot, seed=seed)
    summary.insert(0, "run", run_dir.name)
    title = f"## Inpainting benchmark: {run_dir.name}"
    cells = format_table(summary, labels)
    footer = table_footer(df, meta, output, reference, n_boot=n_boot)
    acc = summarize_accuracy(df, reference=reference, methods=methods, masks=masks, n_boot=n_boot,
                             seed=seed)

    if compare is not None:
        other_dir = Path(compare)
        odf = rows_to_report(other_dir, echo)
        ometa = load_meta(other_dir)
        osum = summarize(odf, output=output, reference=reference, methods=method_order(odf, ometa),
                         masks=mask_order(odf, ometa), n_boot=n_boot, seed=seed)
        osum.insert(0, "run", other_dir.name)
        a, b = run_dir.name, other_dir.name
        if a == b:
            a, b = str(run_dir), str(other_dir)
        olabels = method_labels(odf, ometa)
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

    from ..utils import atomic_write_text

    md = title + "\n\n" + markdown_table(cells, footer)
    tex = latex_table(cells, caption=footer)
    tidy = summary
    if acc is not None and compare is None:
        acc_cells = format_table(acc, {**labels, "uncorrupted": "uncorrupted"}, percent=True)
        acc_footer = table_footer(df, meta, output, reference, accuracy=True, n_boot=n_boot)
        md += "\n### Semantic accuracy\n\n" + markdown_table(acc_cells, acc_footer)
        tex += "\n" + latex_table(acc_cells, caption=acc_footer, label="tab:semantic-accuracy")
        tidy = pd.concat([summary, acc.assign(run=run_dir.name)], ignore_index=True)
    files = []
    if compare is None:
        extra_md, extra_files = _breakdowns(df, out_dir, reference, methods=methods, masks=masks,
                                            labels=labels, output=output, n_boot=n_boot, seed=seed)
        md += extra_md
        files += extra_files
        if distribution:
            extra_md, extra_files = _distribution(run_dir, df, meta, out_dir, methods=methods,
                                                  masks=masks, labels=labels, evaluator=evaluator,
                                                  seed=seed, echo=echo)
            md += extra_md
            files += extra_files
    stem = "compare_" + slug(Path(compare).name) if compare is not None else "table"
    for suffix, text in ((".md", md), (".csv", tidy.to_csv(index=False)), (".tex", tex)):
        files.append(out_dir / f"{stem}{suffix}")
        atomic_write_text(files[-1], text)
    if figures and compare is None:
        for mask in masks:
            for name, fn in (("grid", plot_grid), ("loss_curves", plot_loss_curves)):
                path = out_dir / f"{name}_{slug(mask)}.png"
                f = fn(run_dir, mask, df=df, labels=labels, out=path)
                if f is not None:
                    files.append(f)
        files.append(plot_psnr_distribution(run_dir, df=df, output=output, labels=labels,
                                            out=out_dir / "psnr_distribution.png"))
    from ..utils import atomic_write_json, run_metadata

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
