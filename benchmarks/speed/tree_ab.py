"""Alternating A/B of the latent search between two source trees (e.g. two commits' worktrees).

    git worktree add /tmp/before <commit>
    python benchmarks/speed/tree_ab.py --tree before=/tmp/before --tree after=. \\
        --sets "context,prior,inpaint,sem;all five" --batch 64 --precision bf16 --rounds 3 \\
        --out benchmarks/results/speed-ab

Every measurement runs in a fresh process that imports ``inpaintkit`` from its tree (``python -P``
with ``PYTHONPATH`` set to the tree) and times ``latent_search`` with that tree's own
``benchmarks/speed/run.py:time_search`` (random weights, the same inputs). The trees alternate
within each round, so slow drift of a shared machine shows up as a trend in both rather than as a
difference between them; one run of the suite per version is not enough for a claim (two runs of
the same code on the same idle machine differed by a third). Run it with background jobs paused
(``QUIET_SCRIPT=benchmarks/speed/tree_ab.py benchmarks/speed/quiet.sh --tree ...`` does). Writes ``OUT.json`` (every measurement) and ``OUT.md`` (the medians).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_ab_arguments, run_child  # noqa: E402

_CHILD = r"""
import json, sys, torch
tree, label, batch, precision, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
sys.path.insert(0, tree + "/benchmarks/speed")
torch.set_num_threads(threads)
from common import LOSS_SETS, build_gan, build_googlenet_features
from run import time_search
import inpaintkit
g, d = build_gan(0)
r = time_search((g, d, build_googlenet_features(0)), LOSS_SETS[label], batch, {"precision": precision}, 3.0, 3)
r["inpaintkit_file"] = inpaintkit.__file__
print("RESULT " + json.dumps(r))
"""


def _commit(tree: Path) -> str:
    try:
        sha = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", action="append", required=True, help="NAME=PATH, two or more")
    ap.add_argument("--sets", default="context,prior,inpaint,sem;all five", help="';'-separated loss-set labels")
    add_ab_arguments(ap)
    args = ap.parse_args()
    trees = {}
    for t in args.tree:
        name, sep, path = t.partition("=")
        if not sep or not name or not (Path(path) / "inpaintkit" / "__init__.py").is_file():
            ap.error(f"--tree {t!r}: expected NAME=PATH to a source tree with inpaintkit/")
        trees[name] = Path(path).resolve()
    if len(trees) < 2:
        ap.error("give at least two --tree")
    sets = [s.strip() for s in args.sets.split(";") if s.strip()]
    rows = []
    for rnd in range(args.rounds):
        for label in sets:
            for name, tree in trees.items():
                r = run_child(_CHILD, [str(tree), label, str(args.batch), args.precision, str(args.threads)],
                              {**os.environ, "PYTHONPATH": str(tree)}, f"tree {name} on {label!r}")
                if not r["inpaintkit_file"].startswith(str(tree)):
                    sys.exit(f"tree {name} imported inpaintkit from {r['inpaintkit_file']}, not {tree}")
                rows.append({"round": rnd, "tree": name, "loss_set": label, **r})
                print(f"round {rnd} {label} {name}: {r['img_it_per_s']:.2f} img-it/s", flush=True)
    meta = {"argv": sys.argv, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "cpu": platform.processor() or
            platform.machine(), "torch": __import__("torch").__version__,
            "trees": {n: {"path": str(t), "commit": _commit(t)} for n, t in trees.items()}}
    try:
        meta["cpu"] = next(x.split(":", 1)[1].strip() for x in open("/proc/cpuinfo") if x.startswith("model name"))
    except (OSError, StopIteration):
        pass
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    tmp.replace(out.with_suffix(".json"))
    names = list(trees)
    md = [f"# A/B of the latent search: {' vs '.join(names)}", "",
          f"`python {' '.join(sys.argv)}` ({meta['date']}), {meta['cpu']}, torch {meta['torch']}, "
          f"{args.threads} threads, batch {args.batch}, {args.precision}, random weights.", ""]
    md += [f"- `{n}`: commit `{meta['trees'][n]['commit']}`" for n in names] + [""]
    md += ["| loss set | " + " | ".join(f"{n} img-it/s (rounds)" for n in names) + " | "
           + " | ".join(f"{n} median" for n in names) + " |", "|---" * (1 + 2 * len(names)) + "|"]
    for label in sets:
        per = {n: [r["img_it_per_s"] for r in rows if r["tree"] == n and r["loss_set"] == label] for n in names}
        md.append(f"| {label} | " + " | ".join(", ".join(f"{v:.1f}" for v in per[n]) for n in names) + " | "
                  + " | ".join(f"{statistics.median(per[n]):.1f}" for n in names) + " |")
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text("\n".join(md) + "\n")
    tmp.replace(out.with_suffix(".md"))
    print("\n".join(md))


if __name__ == "__main__":
    main()
