#!/usr/bin/env bash
# The Context Encoder (ce) on the 100 test images of the paper-table1 runs (the first 100 of
# Stanford Cars val.npz, the same masks and seed), beside Telea, and its rows copied here.
#   benchmarks/results/context-encoder/run.sh
# Telea's rows must equal those of paper-table1/p1-best (a check that the images and masks match).
set -euo pipefail
cd "$(dirname "$0")/../../.."
IK=${IK:-.venv/bin/inpaintkit}
DATA=${DATA:-../shared/data/stanford-cars-64}
M=benchmarks/models/stanford-cars-64
OUT=${OUT:-runs/ce-table1}
$IK bench --baselines ce,telea --masks center,left,random:0.7 -n 100 --batch-size 50 \
    --data npz:$DATA/val.npz --mask-file $DATA/masks.npz \
    --eval-classifier $M/evaluator-resnet18.pt --ce $M/context-encoder.pt \
    --save-images 0 --no-progress --out "$OUT"
mkdir -p benchmarks/results/context-encoder/ce-table1
cp "$OUT"/rows.csv "$OUT"/meta.json "$OUT"/report/table.md benchmarks/results/context-encoder/ce-table1/
