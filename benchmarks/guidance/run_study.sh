#!/usr/bin/env bash
# Issue 13's reduced guidance study (2026-12-02, 2-core CPU): context,prior against +sem, +cat, all
# five terms at the calibrated weights, and auto weights, on val images 100-131 of Stanford Cars
# (never the test images 0-99). Adam lr 0.03, 100 iterations, 1 restart (common random numbers:
# every method starts from the same z), bf16 search, Poisson blend, semantic accuracy from the
# independent ResNet-18 evaluator. The images are added in stages of 8 into one run directory
# (a rerun resumes), so a stopped run still holds complete stages.
#
#   benchmarks/guidance/run_study.sh [STAGES]      default "8 16 24 32"; env RUNS (default runs)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${INPAINTKIT_DATA:-../shared/data/stanford-cars-64}
M=benchmarks/models/stanford-cars-64
RUNS=${RUNS:-runs}
IK=${INPAINTKIT:-.venv/bin/inpaintkit}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
for n in ${1:-8 16 24 32}; do
  nice -n 5 $IK bench --data "npz:$DATA/val.npz" --mask-file "$DATA/masks.npz" \
    --gan $M/gan-stanford-cars-64.pt --classifier $M/classifier-googlenet.pt \
    --eval-classifier $M/evaluator-resnet18.pt --start 100 -n "$n" --batch-size 8 \
    --optimizer adam --lr 0.03 --iters 100 --restarts 1 --precision bf16 \
    --baselines none --save-images 0 --no-report --no-progress \
    --losses context,prior --losses context,prior,sem --losses context,prior,cat \
    --losses context,prior,inpaint,sem,cat --losses context,prior,sem=auto:0.3,cat=auto:0.3 \
    --out "$RUNS/guidance-study"
done
