#!/usr/bin/env bash
# Issue 14, "shown better where it counts": --preset best with each generator on Stanford Cars val
# images 100-199 (never the test images 0-99), Telea beside it, the ResNet-18 evaluator for semantic
# accuracy. Every generator sees the same images, masks and starting latents (common random numbers).
# Resumes: rerun after a kill and finished rows are kept.
#
#   benchmarks/gan_compare/run.sh OUT GAN.pt [GAN.pt ...]
#   python benchmarks/gan_compare/compare.py OUT/*/ --reference old --out benchmarks/results/gan-compare/table.md
#
# Each generator's run goes to OUT/<file name without .pt>. Env: INPAINTKIT (default
# .venv/bin/inpaintkit), INPAINTKIT_DATA, START (100), N (100), PRESET (best; fast is the same search
# without its classifier term, about a tenth of the time), PRECISION (auto), CLASSIFIER (the recipe
# GoogLeNet, used only if the preset has a classifier term), SHARD (I/N, then inpaintkit merge),
# OMP_NUM_THREADS (1).
source "$(dirname "$0")/../_env.sh"
out=$1
shift
for gan in "$@"; do
  name=$(basename "$gan" .pt)
  nice -n 5 $IK bench --preset "${PRESET:-best}" --gan "$gan" --classifier "${CLASSIFIER:-$M/classifier-googlenet.pt}" \
    --data "npz:$DATA/val.npz" --mask-file "$DATA/masks.npz" --eval-classifier $M/evaluator-resnet18.pt \
    --start "${START:-100}" -n "${N:-100}" --baselines telea --precision "${PRECISION:-auto}" \
    --save-images 0 --no-report --no-progress ${SHARD:+--shard "$SHARD"} --out "$out/$name"
done
