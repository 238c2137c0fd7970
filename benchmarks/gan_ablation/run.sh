#!/usr/bin/env bash
# Issue 14's ablation: what each training option does to FD-R18 on synthetic-cars, one option at a
# time against the plain recipe. The bundled generator's architecture (dcgan_64, ngf = ndf = 32),
# batch 64, ITERS iterations (default 2000), a snapshot every 500 scored by FD-R18 (1,000 samples
# against synthetic-cars val images 0-999, the bundled evaluator's pooled features).
#
#   benchmarks/gan_ablation/run.sh OUT [CONFIG...]      CONFIG: base ema diffaug sn hinge
#   python benchmarks/gan_ablation/collect.py OUT --out benchmarks/results/gan-ablation
#
# Env: INPAINTKIT (default .venv/bin/inpaintkit), ITERS (2000), SEED (0), PRECISION (auto).
# Each run resumes (--resume) if it was interrupted.
set -euo pipefail
cd "$(dirname "$0")/../.."
IK=${INPAINTKIT:-.venv/bin/inpaintkit}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
out=$1
shift
configs=("$@")
((${#configs[@]})) || configs=(base ema diffaug sn hinge)
for c in "${configs[@]}"; do
  case $c in
    base) extra=() ;;
    ema) extra=(--ema 0.999) ;;
    diffaug) extra=(--diffaug color,translation,cutout) ;;
    sn) extra=(--spectral-norm) ;;
    hinge) extra=(--gan-loss hinge) ;;
    *) echo "unknown config $c (base ema diffaug sn hinge)" >&2; exit 2 ;;
  esac
  nice -n 5 $IK train-gan --data synthetic-cars --arch dcgan_64 --ngf 32 --ndf 32 \
    --iters "${ITERS:-2000}" --batch-size 64 --threads 1 --seed "${SEED:-0}" \
    --precision "${PRECISION:-auto}" --channels-last --sample-every 500 --snapshot-every 500 \
    --fd-data synthetic-cars --fd-n-real 1000 --fd-n 1000 "${extra[@]}" \
    --out "$out/$c-s${SEED:-0}" --resume
done
