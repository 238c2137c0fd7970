#!/usr/bin/env bash
# Top-1 of the recipe GoogLeNet, the masked-input GoogLeNet and the ResNet-18 evaluator on Stanford
# Cars val images, whole and with each hole (zero-filled, as M*y in the losses; image i gets the
# mask of seed i). Writes benchmarks/results/guidance/masked-classifier/<name>.{csv,json,txt}.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${INPAINTKIT_DATA:-../shared/data/stanford-cars-64}
M=benchmarks/models/stanford-cars-64
IK=${INPAINTKIT:-.venv/bin/inpaintkit}
OUT=benchmarks/results/guidance/masked-classifier
mkdir -p $OUT
for name in classifier-googlenet classifier-googlenet-masked evaluator-resnet18; do
  $IK eval-classifier --classifier $M/$name.pt --data "npz:$DATA/val.npz" \
    --masks center,left,random:0.7,blocks --out $OUT/$name.csv | tee $OUT/$name.txt
done
