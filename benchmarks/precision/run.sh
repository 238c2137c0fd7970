#!/usr/bin/env bash
# bf16 against fp32 on the Stanford Cars models (issue 19's acceptance protocol): val images
# 100-131, the masks center/left/random of masks.npz, Adam lr 0.03, 100 iterations, 1 restart,
# common random numbers (both precisions start every image from the same z), the calibrated
# default weights and the recipe GoogLeNet. One bench run per precision:
#
#   benchmarks/precision/run.sh OUT PRECISION [LOSSES...]
#
# e.g. benchmarks/precision/run.sh runs/precision/bf16 bf16 context,prior context,prior,inpaint,sem,cat
# then  python benchmarks/precision/compare.py runs/precision/fp32 runs/precision/bf16 --out benchmarks/results/precision
# Env: INPAINTKIT (default .venv/bin/inpaintkit), OMP_NUM_THREADS (default 1), START (100), N (32),
# MASKS (default center,left,random:0.7).
source "$(dirname "$0")/../_env.sh"
out=$1 precision=$2
shift 2
losses=()
for l in "${@:-context,prior}"; do losses+=(--losses "$l"); done
nice -n 5 $IK bench --data "npz:$DATA/val.npz" --mask-file "$DATA/masks.npz" \
  --gan $M/gan-stanford-cars-64.pt --classifier $M/classifier-googlenet.pt \
  --eval-classifier $M/evaluator-resnet18.pt --start "${START:-100}" -n "${N:-32}" --batch-size 16 \
  --optimizer adam --lr 0.03 --iters 100 --restarts 1 --precision "$precision" \
  --masks "${MASKS:-center,left,random:0.7}" --baselines none --save-images 0 --no-report --no-progress \
  "${losses[@]}" --out "$out"
