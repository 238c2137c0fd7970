#!/usr/bin/env bash
# The chosen demo settings (tune.sh) on each candidate generator, on the synthetic-cars val split:
#   benchmarks/demo/compare_gans.sh NAME GAN [NAME GAN ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
IK=${IK:-.venv/bin/inpaintkit}
RUNS=${RUNS:-runs/demo-tune}
while [ $# -ge 2 ]; do
  name=$1 gan=$2; shift 2
  echo "== $name/chosen"
  $IK bench --data synthetic-cars --split val -n 32 --batch-size 32 --masks center,left,random:0.7 \
      --gan "$gan" --eval-classifier inpaintkit/assets/synthetic-cars-evaluator.pt --save-images 8 \
      --no-progress --seed 0 --losses context,prior,sem,cat --baselines yeh --weights ratio \
      --optimizer adam --lr 0.03 --iters 15 --restarts 2 --restart-reduce mean \
      --out "$RUNS/$name/chosen" | tail -n 3
done
