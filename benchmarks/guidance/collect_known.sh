#!/usr/bin/env bash
# Copy the rows of the known-mode study runs (benchmarks/guidance/run_known.sh) into
# benchmarks/results/guidance/known/: rows.jsonl (all runs' rows, each with its run's settings),
# <run>/meta.json (each run's config, versions and commit), and table.md built from rows.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-runs}
OUT=benchmarks/results/guidance/known
mkdir -p $OUT
tmp=$OUT/rows.jsonl.tmp
: > $tmp
for r in a b c d e; do
  src=$RUNS/guidance-known-$r
  [ -f "$src/rows.jsonl" ] || continue
  mkdir -p $OUT/$r
  cp "$src/meta.json" $OUT/$r/
  cat "$src/rows.jsonl" >> $tmp
done
mv $tmp $OUT/rows.jsonl
${PYTHON:-.venv/bin/python} benchmarks/guidance/analyze.py --rows $OUT/rows.jsonl --out $OUT/table.md
