#!/usr/bin/env bash
# Copy the rows of some study runs (benchmarks/guidance/run_known.sh) into a results folder:
# OUT/rows.jsonl (every run's rows, each with its run's settings), OUT/<run>/meta.json (each run's
# config, versions, commit and machine), and OUT/table.md built from OUT/rows.jsonl alone, against
# the method in REFERENCE (default context,prior; e.g. REFERENCE="context,prior (x4 mean)"). Where
# the reference's rows are committed elsewhere, REFERENCE_ROWS names those rows files (space-separated):
# the table reads them too, and OUT/rows.jsonl holds only these runs' rows.
#
#   benchmarks/guidance/collect_runs.sh benchmarks/results/guidance/known-bf16 runs/guidance-known-bf16
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$1
shift
mkdir -p "$out"
tmp=$out/rows.jsonl.tmp
: > "$tmp"
for src in "$@"; do
  name=$(basename "$src")
  mkdir -p "$out/$name"
  cp "$src/meta.json" "$out/$name/"
  cat "$src/rows.jsonl" >> "$tmp"
done
mv "$tmp" "$out/rows.jsonl"
read -r -a reference_rows <<< "${REFERENCE_ROWS:-}"
${PYTHON:-.venv/bin/python} benchmarks/guidance/analyze.py --rows "${reference_rows[@]}" "$out/rows.jsonl" --out "$out/table.md" \
  --reference "${REFERENCE:-context,prior}"
