"""Check that a restructuring of the library changed no result.

Runs two small benchmarks into a folder, then compares two such folders file by file:

* ``dry``: ``inpaintkit bench --dry-run`` (tiny random models, the synthetic data);
* ``demo``: the built-in default (the bundled synthetic-cars models), cut to 2 images and 2 search
  iterations so that it finishes in well under a minute on a CPU.

Compared bit for bit: every row of ``rows.jsonl`` (all columns but ``seconds``, the wall-clock
time), every array in every ``.npz`` (inputs, outputs, loss histories), and the report's tables
(``table.csv``, ``table.md``, ``differences.csv``, ``hole_ratio.csv``). ``meta.json`` is compared
without its commit, argv, output path and clock times. Figures (PNG) are only checked to exist: their bytes
hold matplotlib metadata.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/refactor_check.py record /tmp/before   # at the old commit
    OMP_NUM_THREADS=1 python benchmarks/refactor_check.py record /tmp/after    # at the new one
    python benchmarks/refactor_check.py compare /tmp/before /tmp/after

``compare`` exits with status 1 and names every difference when the two folders differ. Run both
``record`` steps on the same machine and with the same thread count: the rows are reproducible on
one machine, not across CPUs.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

RUNS = {
    "dry": ["--dry-run", "--seed", "3"],
    "demo": ["-n", "2", "--iters", "2", "--masks", "center,random:0.5", "--device", "cpu"],
}
TABLES = ("table.csv", "table.md", "differences.csv", "hole_ratio.csv")
# Columns and meta.json keys that legitimately differ between two runs of the same code.
VOLATILE_COLUMNS = {"seconds"}
VOLATILE_META = {"argv", "git_commit", "started", "finished", "wall_seconds", "out"}


def record(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, args in RUNS.items():
        out = folder / name
        if out.exists():
            raise SystemExit(f"{out} exists; record into a new folder")
        cmd = [sys.executable, "-c", "from inpaintkit.cli import main; main()", "bench", *args,
               "--out", str(out), "--no-progress"]
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def _rows(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for r in rows:
        for k in VOLATILE_COLUMNS:
            r.pop(k, None)
    return sorted(rows, key=lambda r: json.dumps([r.get("method"), r.get("mask"), r.get("image_id")]))


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in VOLATILE_META}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def compare(a: Path, b: Path) -> list[str]:
    problems: list[str] = []
    for name in RUNS:
        ra, rb = a / name, b / name
        rows_a, rows_b = _rows(ra / "rows.jsonl"), _rows(rb / "rows.jsonl")
        if len(rows_a) != len(rows_b):
            problems.append(f"{name}: {len(rows_a)} rows against {len(rows_b)}")
        for x, y in zip(rows_a, rows_b):
            if x != y:
                keys = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
                problems.append(f"{name}: row {x.get('method')}/{x.get('mask')}/{x.get('image_id')}"
                                f" differs in {keys}")
        files_a = sorted(p.relative_to(ra) for p in ra.rglob("*.npz"))
        files_b = sorted(p.relative_to(rb) for p in rb.rglob("*.npz"))
        if files_a != files_b:
            problems.append(f"{name}: npz files differ: {sorted(set(files_a) ^ set(files_b))}")
        for rel in sorted(set(files_a) & set(files_b)):
            with np.load(ra / rel) as za, np.load(rb / rel) as zb:
                if sorted(za.files) != sorted(zb.files):
                    problems.append(f"{name}: {rel}: arrays {za.files} against {zb.files}")
                    continue
                for k in za.files:
                    if not np.array_equal(za[k], zb[k], equal_nan=za[k].dtype.kind == "f"):
                        problems.append(f"{name}: {rel}[{k}] differs")
        for t in TABLES:
            pa, pb = ra / "report" / t, rb / "report" / t
            if pa.exists() != pb.exists() or (pa.exists() and pa.read_bytes() != pb.read_bytes()):
                problems.append(f"{name}: report/{t} differs")
        pngs_a = sorted(p.name for p in (ra / "report").glob("*.png"))
        pngs_b = sorted(p.name for p in (rb / "report").glob("*.png"))
        if pngs_a != pngs_b:
            problems.append(f"{name}: figures {pngs_a} against {pngs_b}")
        ma = _strip(json.loads((ra / "meta.json").read_text()))
        mb = _strip(json.loads((rb / "meta.json").read_text()))
        if ma != mb:
            keys = sorted(k for k in set(ma) | set(mb) if ma.get(k) != mb.get(k))
            problems.append(f"{name}: meta.json differs in {keys}")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "record":
        record(Path(argv[1]))
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        problems = compare(Path(argv[1]), Path(argv[2]))
        for p in problems:
            print(p)
        print("identical" if not problems else f"{len(problems)} difference(s)")
        return 1 if problems else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
