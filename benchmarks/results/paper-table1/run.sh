#!/usr/bin/env bash
# Issue 8 on the 2-core development CPU: the paper's Table 1 protocol on the first 100 images of
# Stanford Cars val.npz, a small tuning sweep on images 100-131 (never the test images), and the
# chosen configuration on the test images. Every step resumes: rerun the script after a kill.
#
#   benchmarks/results/paper-table1/run.sh [precision|tune|paper|best]   # ITERS=50 PREC=fp32 RUNS=runs
#
# Iterations: the paper uses 1500. With the recipe GoogLeNet a five-term search step costs
# 12.9 GFLOP per image; this CPU does 13.6 image-iterations/s in fp32 (25 in bf16, which failed the
# 0.1 dB check below on these models), so 1500 iterations for the two classifier-loss rows alone
# (100 images x 3 masks x 2) would take about 15 hours. ITERS (default 50) is what fitted in the
# session; see README.md next to this script.
set -euo pipefail
cd "$(dirname "$0")/../../.."
DATA=${INPAINTKIT_DATA:-../shared/data/stanford-cars-64}
M=benchmarks/models/stanford-cars-64
RUNS=${RUNS:-runs}
ITERS=${ITERS:-50}
PREC=${PREC:-fp32}
IK=${INPAINTKIT:-inpaintkit}
C=(--data "npz:$DATA/val.npz" --mask-file "$DATA/masks.npz" --gan $M/gan-stanford-cars-64.pt
   --classifier $M/classifier-googlenet.pt --eval-classifier $M/evaluator-resnet18.pt
   --iters "$ITERS" --batch-size 50 --precision "$PREC" --no-progress)

step=${1:-all}
if [[ $step == all || $step == precision ]]; then
  # bf16 against fp32 on the same 16 images (issue 7: the PSNR must agree within 0.1 dB)
  for p in fp32 bf16; do
    $IK bench "${C[@]}" --precision $p --losses context,prior,inpaint,sem,cat --baselines none \
      --masks center -n 16 --iters 100 --optimizer nesterov --lr 0.01 --save-images 0 --no-report \
      --out "$RUNS/p1-precision-$p"
  done
fi
if [[ $step == all || $step == paper ]]; then
  # the paper's protocol (Nesterov, lr 0.01, SPEC weights per mask, Poisson blend) beside the baselines;
  # yeh monitors context/prior/inpaint only (monitoring sem/cat would cost a GoogLeNet pass per step)
  $IK bench --preset paper-table1 "${C[@]}" -n 100 --baselines im,yeh,telea,biharmonic \
    --monitor context,prior,inpaint --out "$RUNS/p1-paper-table1"
fi
if [[ $step == all || $step == tune ]]; then
  # tuning sweep on images 100-131: Adam, and sem/cat weights 100x and 10x below SPEC's
  $IK bench "${C[@]}" --start 100 -n 32 --optimizer adam --lr 0.03 --save-images 0 \
    --baselines yeh,im,telea,biharmonic --losses context,prior,sem=1e3,cat=1e3 \
    --losses context,prior,sem=1e4,cat=1e4 --out "$RUNS/p1-tune"
  # with Adam only the ratio of the weights matters, and sem/cat still dominated context at 1e3
  # (final losses: context ~180, sem ~1.8 x 1e3 on center): weights that balance them
  $IK bench "${C[@]}" --start 100 -n 32 --optimizer adam --lr 0.03 --save-images 0 \
    --baselines none --losses context,prior,sem=10,cat=100 --losses context,prior,sem=50,cat=500 \
    --losses context,prior,inpaint=3,sem=10,cat=100 --out "$RUNS/p1-tune2"
fi
if [[ $step == all || $step == best ]]; then
  $IK bench --preset best "${C[@]}" -n 100 --baselines none --out "$RUNS/p1-best"
fi
