#!/usr/bin/env bash
# Copy the rows of the known-mode study runs (benchmarks/guidance/run_known.sh) into
# benchmarks/results/guidance/known/ and rebuild its table from them alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-runs}
OUT=benchmarks/results/guidance/known
rows=()
for r in a b c d e; do
  src=$RUNS/guidance-known-$r
  [ -f "$src/rows.jsonl" ] || continue
  mkdir -p $OUT/$r
  cp "$src/rows.jsonl" "$src/meta.json" $OUT/$r/
  rows+=($OUT/$r/rows.jsonl)
done
${PYTHON:-.venv/bin/python} benchmarks/guidance/analyze.py --rows "${rows[@]}" --out $OUT/table.md
