"""Figures from a run's rows and saved arrays: the qualitative grid per mask, the averaged loss
curves, and the per-image PSNR distributions; each written atomically."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .._rows import load_rows
from ..bench.rundir import inputs_path, slug
from ..utils import save_figure
from .rows import load_meta, mask_order, method_labels, method_order, metric_column, ok_rows
from .stats import METRIC_LABELS


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (unless ``MPLBACKEND`` says otherwise)."""
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
    labels = labels or method_labels(df, meta)
    inputs_file = inputs_path(run_dir, mask)
    sub = ok_rows(df[df["mask"] == mask])
    if not inputs_file.is_file() or "images_file" not in sub:
        return None
    with np.load(inputs_file) as z:
        inp = {k: z[k] for k in z.files}
    methods = method_order(sub, meta)
    outputs = {}
    for m in methods:
        files = sub.loc[(sub["method"] == m) & sub["images_file"].notna(), "images_file"]
        parts = _load_parts(run_dir, list(files))
        if parts:
            outputs[m] = dict(zip(parts["ids"].tolist(), parts["output"]))
    ids = [int(i) for i in inp["ids"] if all(int(i) in o for o in outputs.values())][:n_images]
    if not ids or not outputs:
        return None
    plt = pyplot()
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
    out = Path(out) if out else run_dir / "report" / f"grid_{slug(mask)}.png"
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
    ok = ok_rows(df)
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
    labels = labels or method_labels(df, meta)
    curves = {k: v for k, v in loss_curves(run_dir, df).items() if k[1] == mask}
    if not curves:
        return None
    plt = pyplot()
    methods = [m for m in method_order(df, meta) if (m, mask) in curves]
    fig, axes = plt.subplots(1, len(methods), figsize=(4 * len(methods), 3.2), squeeze=False,
                             sharey=True)
    from .._presets import ALL_TERMS

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
    out = Path(out) if out else run_dir / "report" / f"loss_curves_{slug(mask)}.png"
    return save_figure(fig, out, dpi=110)


def plot_psnr_distribution(run_dir: str | os.PathLike, df=None, output: str = "scored",
                           out: str | os.PathLike | None = None,
                           labels: dict[str, str] | None = None):
    """Box plots of the per-image PSNR (full image, top; hole, bottom) per method, one panel per
    mask. Returns the figure path."""
    run_dir = Path(run_dir)
    df = load_rows(run_dir) if df is None else df
    meta = load_meta(run_dir)
    labels = labels or method_labels(df, meta)
    ok = ok_rows(df)
    masks, methods = mask_order(df, meta), method_order(df, meta)
    plt = pyplot()
    width = max(4, 0.9 * len(methods) + 1) * len(masks)
    fig, axes = plt.subplots(2, len(masks), figsize=(width, 6), squeeze=False)
    for c, mask in enumerate(masks):
        for r, metric in enumerate(("psnr", "psnr_hole")):
            ax = axes[r, c]
            col = metric_column(metric, output)
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
