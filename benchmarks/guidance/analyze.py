"""Tables of the guidance study from its rows: hole PSNR/SSIM, semantic accuracy, exact McNemar.

    python benchmarks/guidance/analyze.py --rows benchmarks/results/guidance/study/rows.csv \
        --out benchmarks/results/guidance/study/table.md

A run with several restarts (``RESTARTS=4 REDUCE=mean``) counts as another method, labelled e.g.
``context,prior (x4 mean)``: the equal-compute reference for the costlier classifier terms
(``median s/image`` is each method's search time per image).

``--rows`` takes several files (e.g. two bench runs that split the methods between two processes):
their rows are pooled, and every method must cover the images and masks of ``context,prior``.

``--drop METHOD@MASK`` leaves a method's rows on one mask out, and ``--rename OLD=NEW`` relabels a
method (after the ``(x4 mean)`` suffix is added): together they build a method from two runs, e.g.
the default loss set at new random-mask weights from the earlier run's center/left rows and a
new random-mask run (``benchmarks/results/guidance/README.md``, section 12).

Every method is compared with ``context,prior`` on the same images and masks (and, with common
random numbers, the same starting latents): mean difference in hole PSNR, and the exact McNemar
test on the independent evaluator's correct/incorrect top-1 (``scipy.stats.binomtest`` on the
discordant pairs), per mask and pooled over the masks.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

REFERENCE = "context,prior"


def mcnemar(ref: pd.Series, other: pd.Series) -> tuple[int, int, float]:
    """``(b, c, p)``: images only the reference got right, only the other got right, and the
    exact two-sided McNemar p-value."""
    from scipy.stats import binomtest

    b = int((ref & ~other).sum())
    c = int((~ref & other).sum())
    p = binomtest(c, b + c, 0.5).pvalue if b + c else 1.0
    return b, c, float(p)


def ci_half(d) -> float:
    """Half-width of the 95% t-interval of the mean of paired differences ``d`` (NaN for n < 2)."""
    from scipy.stats import t

    n = len(d)
    return float(t.ppf(0.975, n - 1) * d.std(ddof=1) / n ** 0.5) if n > 1 else float("nan")


def delta_ci(d) -> str:
    """Mean of paired differences with its 95% t-interval, e.g. ``+0.53 [+0.21, +0.85]``."""
    half = ci_half(d)
    return f"{d.mean():+.2f} [{d.mean() - half:+.2f}, {d.mean() + half:+.2f}]"


def tables(rows: pd.DataFrame, reference: str = REFERENCE) -> str:
    rows = rows[rows.error.isna() | (rows.error.astype(str) == "")].copy()
    rows["eval_correct"] = rows.eval_correct.astype(bool)
    methods = [reference] + [m for m in dict.fromkeys(rows.method) if m != reference]
    ref = rows[rows.method == reference].set_index(["mask", "image_id"])
    lines = [f"| mask | method | n | hole PSNR | Δ vs {reference} [95% CI] | hole SSIM | sem. acc. | "
             "only ref right / only method right | McNemar p | median w_sem | median w_cat | "
             "max z on clip | median s/image |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    masks = list(dict.fromkeys(rows["mask"]))
    # pooled rows only for the methods run on every mask (a sweep point run on one mask is not pooled)
    complete = {m for m in methods if set(rows[rows.method == m]["mask"]) == set(masks)}
    for mask in masks + ["pooled"]:
        for m in methods:
            if mask == "pooled" and m not in complete:
                continue
            sel = rows[rows.method == m] if mask == "pooled" else rows[(rows.method == m) & (rows["mask"] == mask)]
            if sel.empty:
                continue
            sel = sel.set_index(["mask", "image_id"])
            sel = sel[sel.index.isin(ref.index)]  # paired with a context,prior row (a run in progress)
            if sel.empty:
                continue
            r = ref.loc[sel.index]
            d = delta_ci(sel.psnr_hole.to_numpy() - r.psnr_hole.to_numpy())
            b, c, p = mcnemar(r.eval_correct, sel.eval_correct)
            ws = sel["w_sem"].median() if "w_sem" in sel else float("nan")
            wc = sel["w_cat"].median() if "w_cat" in sel else float("nan")
            lines.append(
                f"| {mask} | {m} | {len(sel)} | {sel.psnr_hole.mean():.2f} | "
                f"{'' if m == reference else d} | {sel.ssim_hole.mean():.3f} | "
                f"{sel.eval_correct.mean():.3f} | {'' if m == reference else f'{b} / {c}'} | "
                f"{'' if m == reference else f'{p:.3g}'} | {'' if pd.isna(ws) else f'{ws:.3g}'} | "
                f"{'' if pd.isna(wc) else f'{wc:.3g}'} | {sel.z_clip.max():.0%} | {sel.seconds.median():.2f} |")
    gt = rows[rows.method == reference].eval_correct_gt.astype(bool).mean()
    lines += ["", f"Evaluator top-1 on the uncorrupted images: {gt:.3f}."]
    return "\n".join(lines) + "\n"


def load_rows(files: list[str | Path]) -> pd.DataFrame:
    """The rows of several bench runs (``rows.jsonl`` or ``rows.csv``), pooled. A run with K > 1
    restarts counts as another method, labelled e.g. ``context,prior (x4 mean)``; rows computed
    twice are kept once (:func:`drop_repeats`)."""
    rows = pd.concat([pd.read_json(f, lines=True) if str(f).endswith(".jsonl") else pd.read_csv(f)
                      for f in files], ignore_index=True)
    if "restarts" in rows:  # e.g. the equal-compute reference
        multi = rows.restarts.fillna(1).astype(int) > 1
        reduce = rows.get("restart_reduce", pd.Series("best", index=rows.index)).fillna("best")
        rows.loc[multi, "method"] = (rows.method[multi] + " (x" + rows.restarts[multi].astype(int).astype(str)
                                     + " " + reduce[multi].astype(str) + ")")
    return drop_repeats(rows)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a reader never sees half a table."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


KEY = ["method", "mask", "image_id"]
RESULT = ["psnr_hole", "ssim_hole", "eval_correct"]


def drop_repeats(rows: pd.DataFrame) -> pd.DataFrame:
    """Keep the first of rows that repeat a (method, mask, image), e.g. a replication run that
    recomputes the reference on images an earlier run covered. The repeats must agree on the
    results (the search is seeded per image and method-independent), else the rows are refused."""
    dup = rows.duplicated(KEY, keep=False)
    if not dup.any():
        return rows
    spread = rows[dup].groupby(KEY)[RESULT].nunique(dropna=False)
    differ = spread[(spread > 1).any(axis=1)]
    if len(differ):
        raise SystemExit(f"{len(differ)} (method, mask, image) computed twice with different results, "
                         f"e.g. {differ.index[0]}; the runs are not comparable")
    n = int(rows.duplicated(KEY).sum())
    print(f"note: {n} rows repeat a (method, mask, image) with identical results; the first is kept")
    return rows.drop_duplicates(KEY)


def _image_range(text: str) -> tuple[int, int] | None:
    """``FIRST-LAST`` (inclusive) as two ints, or None if ``text`` is not one."""
    first, sep, last = text.partition("-")
    return (int(first), int(last)) if sep and first.isdigit() and last.isdigit() else None


def drop_and_rename(rows: pd.DataFrame, drop: list[str], rename: list[str]) -> pd.DataFrame:
    """Leave out each ``METHOD@MASK`` (or ``METHOD@MASK@FIRST-LAST``, only those image ids) of
    ``drop``, then relabel each ``OLD=NEW`` of ``rename``. Every one must match some rows, so that
    a typo does not pass silently."""
    for spec in drop:
        method, sep, mask = spec.rpartition("@")
        hit = pd.Series(True, index=rows.index)
        if sep and (images := _image_range(mask)) is not None:
            method, sep, mask = method.rpartition("@")
            hit = rows.image_id.between(*images)
        hit &= (rows.method == method) & (rows["mask"] == mask)
        if not sep or not hit.any():
            raise SystemExit(f"--drop {spec!r}: no rows of method {method!r} on mask {mask!r} "
                             f"(methods: {sorted(set(rows.method))}; masks: {sorted(set(rows['mask']))}; "
                             f"images {rows.image_id.min()}-{rows.image_id.max()})")
        rows = rows[~hit]
    for spec in rename:
        # the labels themselves hold '=' (sem=8): split at the '=' that leaves a known method on the left
        methods = set(rows.method)
        cut = next((i for i, ch in enumerate(spec) if ch == "=" and spec[:i] in methods), None)
        if cut is None:
            raise SystemExit(f"--rename {spec!r}: it does not start with a known method followed by '=' "
                             f"(methods: {sorted(methods)})")
        old, new = spec[:cut], spec[cut + 1:]
        clash = rows[(rows.method == new)].set_index(["mask", "image_id"]).index.intersection(
            rows[rows.method == old].set_index(["mask", "image_id"]).index)
        if len(clash):
            raise SystemExit(f"--rename {spec!r}: {new!r} already has rows on {len(clash)} of the same "
                             f"(mask, image) pairs, e.g. {clash[0]}; --drop them first")
        rows = rows.assign(method=rows.method.where(rows.method != old, new))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", required=True, nargs="+", help="rows.csv (or rows.jsonl) of one or more bench runs")
    ap.add_argument("--out", required=True)
    ap.add_argument("--reference", default=REFERENCE, help="the method every other one is compared with")
    ap.add_argument("--images", default=None, metavar="FIRST-LAST",
                    help="only these image ids (inclusive), e.g. 100-149 where one method covers fewer images")
    ap.add_argument("--drop", action="append", default=[], metavar="METHOD@MASK[@FIRST-LAST]",
                    help="leave out a method's rows on one mask, optionally only on those image ids "
                         "(repeatable)")
    ap.add_argument("--rename", action="append", default=[], metavar="OLD=NEW",
                    help="relabel a method, after --drop (repeatable)")
    args = ap.parse_args()
    rows = drop_and_rename(load_rows(args.rows), args.drop, args.rename)
    if args.images:
        first, last = (int(v) for v in args.images.split("-"))
        rows = rows[(rows.image_id >= first) & (rows.image_id <= last)]
    text = tables(rows, args.reference)
    write_text(Path(args.out), text)
    print(text)


if __name__ == "__main__":
    main()
