"""The paper's loss modes at the current weights against ``context,prior`` on val 100-199: a table
and a figure, from committed rows only.

    python benchmarks/guidance/modes.py --out benchmarks/results/guidance/modes-100-199.png
    python benchmarks/guidance/modes.py --reduce best --images 100-131 \
        --out benchmarks/results/guidance/modes-best-100-131.png

Every row in it is what the current default weights compute (``sem`` 150, ``cat`` 8 on center and
left masks; ``sem`` 8, ``cat`` 0.4, ``inpaint`` 30 on random ones), with section 11's protocol (4
restarts from the same latents, fills averaged, Adam lr 0.03, 100 iterations, bf16). The rows join
(``benchmarks/results/guidance/README.md``):

- val 100-131, center and left: ``paper-x4mean/`` (section 11);
- val 100-131, random masks at the current weights: ``random-confirm/`` and ``random-confirm2/``
  (sections 12-13; their rows are labelled with the explicit weights, e.g. ``sem=8``, and are
  relabelled here); section 11's random-mask rows at the earlier weights are left out;
- val 132-199: ``default-132-199/`` (``context,prior`` and the default, section 15) and
  ``modes-132-199/`` (the other modes, section 17).

With ``--reduce best`` the rows are those of the lowest-loss restart (``--restart-reduce best``):
``default-x4best/`` (``context,prior`` and the default, section 16), ``inpaint-sem-x4best/``,
``sem-x4best/``, ``cat-x4best/``, ``five-x4best/`` (sections 19-22, val 100-131) and
``cat-x4best-132-199/`` (``context,prior`` and ``+cat`` on val 132-199, section 23) and
``default-x4best-132-199/`` (the default on val 132-199, section 24).

A mode is shown only where it has all of the reference's (mask, image) pairs; the others are named
as incomplete. Writes ``OUT`` (the figure), ``OUT`` with ``.md`` (the paired differences: hole PSNR
with its 95% t-interval, accuracy in points with a 95% interval, exact McNemar), and
``analyze.py``'s full table of the joined rows: ``modes-132-199/table-100-199.md`` for ``mean``,
``OUT`` with ``-table.md`` for ``best``.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pandas as pd

_spec = importlib.util.spec_from_file_location("guidance_replications", Path(__file__).with_name("replications.py"))
replications = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(replications)
analyze, ROOT = replications.analyze, replications.ROOT

R = ROOT / "benchmarks" / "results" / "guidance"
#: The modes' losses, in the order of the table, with their labels in the figure.
LOSSES = {"context,prior,sem": "+sem",
          "context,prior,cat": "+cat",
          "context,prior,inpaint,sem": "+inpaint,sem (w/o logits)",
          "context,prior,sem,cat": "+sem,cat (the default)",
          "context,prior,inpaint,sem,cat": "all five (with logits)"}


def reference(reduce: str = "mean") -> str:
    return f"context,prior (x4 {reduce})"


def modes(reduce: str = "mean") -> dict[str, str]:
    """The modes' row labels under one restart reduction, with their labels in the figure."""
    return {f"{loss} (x4 {reduce})": label for loss, label in LOSSES.items()}


REFERENCE = reference()
MODES = modes()
#: The random-mask runs' labels for the current weights, and the mode each one is.
RANDOM_LABELS = {"context,prior,sem=8 (x4 mean)": "context,prior,sem (x4 mean)",
                 "context,prior,cat=0.4 (x4 mean)": "context,prior,cat (x4 mean)",
                 "context,prior,inpaint=30,sem=8 (x4 mean)": "context,prior,inpaint,sem (x4 mean)",
                 "context,prior,sem=8,cat=0.4 (x4 mean)": "context,prior,sem,cat (x4 mean)",
                 "context,prior,inpaint=30,sem=8,cat=0.4 (x4 mean)": "context,prior,inpaint,sem,cat (x4 mean)"}
ROWS = ["paper-x4mean", "random-confirm", "random-confirm2", "default-132-199", "modes-132-199"]
ROWS_BEST = ["default-x4best", "inpaint-sem-x4best", "sem-x4best", "cat-x4best", "five-x4best", "cat-x4best-132-199",
             "default-x4best-132-199"]
#: The rows folders joined under each restart reduction.
RUNS = {"mean": ROWS, "best": ROWS_BEST}


def study_rows(root: Path = R, reduce: str = "mean") -> pd.DataFrame:
    """The joined rows of val 100-199, each mode under one label, at the current weights."""
    rows = analyze.load_rows([root / name / "rows.jsonl" for name in RUNS[reduce] if (root / name / "rows.jsonl").is_file()])
    if reduce != "mean":
        return rows
    old_random = [f"{m}@random:0.7@100-131" for m in MODES if ((rows.method == m) & (rows["mask"] == "random:0.7")
                                                              & (rows.image_id <= 131)).any()]
    renames = [f"{old}={new}" for old, new in RANDOM_LABELS.items() if (rows.method == old).any()]
    return analyze.drop_and_rename(rows, old_random, renames)


def machines(root: Path = R, names: list[str] = ROWS) -> str:
    """Which CPU ran each joined run, from its metas: the tables' ``median s/image`` pools them."""
    lines = []
    for name in names:
        cpus = {}
        for f in sorted((root / name).glob("**/meta*.json")):
            meta = json.loads(f.read_text())
            m = meta.get("machine") or {}
            # a merged meta records the merge's machine: the shards' own metas, where kept, record the runs'
            if m and not any((f.parent / shard).is_file() for shard in meta.get("merged_from") or []):
                cpu = f"{m.get('cpu_model', '?')} ({m.get('cpu_capability', '?')})"
                cpus.setdefault(cpu, set()).add(m.get("torch_threads"))
        if cpus:
            lines.append(f"- `{name}/`: " + "; ".join(
                f"{cpu}, {' or '.join(str(t) for t in sorted(t for t in ts if t is not None))} thread(s) per process"
                for cpu, ts in cpus.items()))
    return ("The `median s/image` column pools the machines that ran the joined rows (from the runs' metas):\n\n" + "\n".join(lines) + "\n")


def selected_rows(reduce: str = "mean", first: int = 100, last: int = 199, root: Path = R) -> pd.DataFrame:
    """The reference's and the modes' rows on val ``first``-``last``, under one restart reduction."""
    rows = study_rows(root, reduce)
    return rows[rows.method.isin([reference(reduce), *modes(reduce)]) & rows.image_id.between(first, last)]


def complete_modes(rows: pd.DataFrame, reduce: str = "mean") -> tuple[list[str], list[str]]:
    """The modes with every (mask, image) pair of the reference, and those without."""
    pairs = set(rows[rows.method == reference(reduce)].set_index(["mask", "image_id"]).index)
    done, missing = [], []
    for m in modes(reduce):
        have = set(rows[rows.method == m].set_index(["mask", "image_id"]).index)
        (done if pairs <= have else missing).append(m)
    return done, missing


def summary(rows: pd.DataFrame, shown: list[str], reduce: str = "mean") -> pd.DataFrame:
    labels, out = modes(reduce), []
    for m in shown:
        for mask in ["center", "left", "random:0.7", "pooled"]:
            part = rows if mask == "pooled" else rows[rows["mask"] == mask]
            out.append({"images": labels[m], "mask": mask, **replications.paired(part, m, reference(reduce))})
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reduce", choices=["mean", "best"], default="mean",
                    help="the rows of averaged restarts (mean) or of the lowest-loss one (best)")
    ap.add_argument("--images", default="100-199", metavar="FIRST-LAST",
                    help="the val image ids to compare on (inclusive)")
    ap.add_argument("--out", help="the figure (default: benchmarks/results/guidance/modes[-best]-FIRST-LAST.png)")
    args = ap.parse_args()
    span = analyze._image_range(args.images)
    if span is None:
        ap.error(f"--images must be FIRST-LAST, e.g. 100-131, not {args.images!r}")
    first, last = span
    out = Path(args.out or R / f"modes{'-best' if args.reduce == 'best' else ''}-{first}-{last}.png")
    ref, labels = reference(args.reduce), modes(args.reduce)
    rows = selected_rows(args.reduce, first, last)
    done, missing = complete_modes(rows, args.reduce)
    if not done:
        raise SystemExit(f"no mode has all {int((rows.method == ref).sum())} pairs of the reference")
    rows = rows[rows.method.isin([ref, *done])]
    s = summary(rows, done, args.reduce)
    shown = out.resolve().relative_to(ROOT) if out.resolve().is_relative_to(ROOT) else out
    names = RUNS[args.reduce]
    command = f"python benchmarks/guidance/modes.py{' --reduce best' if args.reduce == 'best' else ''}"
    if args.images != "100-199":
        command += f" --images {args.images}"
    note = (f"Made by `{command} --out {shown}` from the committed rows of {', '.join(names)}; each mode "
            f"against `{ref}` on val {first}-{last}, the same starting latents.\n")
    if missing:
        note += f"Not on all of val {first}-{last}, so left out: {', '.join(labels[m] for m in missing)}.\n"
    text = note + "\n" + replications.markdown(s, first="mode", method="mode", reference="ref")
    analyze.write_text(out.with_suffix(".md"), text)
    table = (R / "modes-132-199" / "table-100-199.md" if args.reduce == "mean" and args.images == "100-199"
             else out.with_name(out.stem + "-table.md"))
    analyze.write_text(table, analyze.tables(rows, ref) + "\n" + machines(names=names))
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    replications.forest(s, out, [f"{labels[m]}, {k}" for m in done for k in ["center", "left", "random:0.7", "pooled"]],
                        [colours[list(labels).index(m)] for m in done for _ in range(4)], "mode - context,prior",
                        f"The paper's modes at the current weights against context,prior on val {first}-{last}"
                        f"{', best restart kept' if args.reduce == 'best' else ''}, 95% intervals")
    print(text)


if __name__ == "__main__":
    main()
