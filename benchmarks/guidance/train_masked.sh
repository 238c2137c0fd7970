#!/usr/bin/env bash
# The masked-input GoogLeNet of issue 13: the recipe GoogLeNet (classifier-googlenet.pt) fine-tuned
# for one epoch on Stanford Cars train images of which 75% get a hole (center, left, random:0.7 or
# blocks, filled with zeros as M*y in the losses, a flat random colour or uniform noise). best.pt is
# chosen on val top-1 with holes. The epoch took 2,432 s on 2 AVX2 EPYC cores shared with other jobs
# (fp32; metrics CSV beside the checkpoint); then
#   cp runs/classifier-googlenet-masked/best.pt benchmarks/models/stanford-cars-64/classifier-googlenet-masked.pt
# and the per-mask accuracies of the classifiers: benchmarks/guidance/masked_accuracy.py
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${INPAINTKIT_DATA:-../shared/data/stanford-cars-64}
IK=${INPAINTKIT:-.venv/bin/inpaintkit}
$IK train-classifier --data "npz:$DATA/train.npz" --val "npz:$DATA/val.npz" --arch googlenet \
  --init benchmarks/models/stanford-cars-64/classifier-googlenet.pt \
  --mask-augment center,left,random:0.7,blocks --mask-prob 0.75 \
  --epochs 1 --batch-size 64 --optimizer adamw --lr 3e-4 --weight-decay 0.05 --schedule cosine \
  --warmup-epochs 0.1 --label-smoothing 0.1 --jitter 0.2 --crop rrc --aux-weight 0.3 --threads 2 \
  --best-dtype float16 --seed 0 --out runs/classifier-googlenet-masked "$@"
