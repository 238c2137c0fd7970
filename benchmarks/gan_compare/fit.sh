#!/usr/bin/env bash
# How well each generator (e.g. every snapshot of a training run) fits held-out images: --preset fast
# (context,prior, 4 averaged restarts) on the tuning images val 200-215, center masks, Telea beside it.
# A generator that covers more real images reaches a lower context loss. Then fit_table.py.
# A screen, not a verdict: with 16 images the hole-PSNR difference's 95% interval is about +-0.45 dB
# (fit_table.py prints it); decide on run.sh's 100 images x 3 masks.
#
#   benchmarks/gan_compare/fit.sh OUT NAME=GAN.pt [NAME=GAN.pt ...]
#   python benchmarks/gan_compare/fit_table.py OUT --reference old --out OUT/table.md
#
# Env as run.sh (INPAINTKIT, INPAINTKIT_DATA, OMP_NUM_THREADS), plus START (200), N (16), MASKS (center).
source "$(dirname "$0")/../_env.sh"
out=$1
shift
for spec in "$@"; do
  nice -n 5 $IK bench --preset fast --gan "${spec#*=}" --data "npz:$DATA/val.npz" --mask-file "$DATA/masks.npz" \
    --masks "${MASKS:-center}" --start "${START:-200}" -n "${N:-16}" --baselines telea --save-images 0 \
    --no-report --no-progress --out "$out/${spec%%=*}"
done
