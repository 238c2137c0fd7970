#!/usr/bin/env bash
# The class signals of issue 13 on Stanford Cars val images (never the test images 0-99):
# context,prior against cat[known] (KL of the composite's softmax to the masked-input classifier's
# softmax on M*y, computed once) and sem[known] (classifier features of M*G(z) against those of
# M*y), with the masked-input GoogLeNet (benchmarks/guidance/train_masked.sh) as the feature network.
# Adam lr 0.03, 100 iterations, 1 restart, common random numbers (every method on an image starts
# from the same z), fp32, Poisson blend; semantic accuracy from the independent ResNet-18 evaluator.
#
#   benchmarks/guidance/run_known.sh OUT START N [SHARD] [LOSSES...]
#
# e.g. benchmarks/guidance/run_known.sh runs/known 100 100 1/2 context,prior context,prior,cat[known]=auto:1
# SHARD is I/N (bench --shard) or "all". Env: CLASSIFIER (default runs/classifier-googlenet-masked/best.pt),
# INPAINTKIT (default .venv/bin/inpaintkit), OMP_NUM_THREADS (default 1), PRECISION (default fp32,
# as the committed known/ rows; bf16 where it is native, validated in benchmarks/results/precision/),
# RESTARTS (default 1), REDUCE (default best), MASKS (default center,left,random:0.7).
source "$(dirname "$0")/../_env.sh"
CLASSIFIER=${CLASSIFIER:-runs/classifier-googlenet-masked/best.pt}
out=$1 start=$2 n=$3 shard=${4:-all}
shift 4 || shift $#
losses=()
for l in "${@:-context,prior}"; do losses+=(--losses "$l"); done
shard_opt=()
[ "$shard" != all ] && shard_opt=(--shard "$shard")
nice -n 5 $IK bench --data "npz:$DATA/val.npz" --mask-file "$DATA/masks.npz" \
  --gan $M/gan-stanford-cars-64.pt --classifier "$CLASSIFIER" \
  --eval-classifier $M/evaluator-resnet18.pt --masks "${MASKS:-center,left,random:0.7}" --start "$start" -n "$n" --batch-size 16 \
  --optimizer adam --lr 0.03 --iters 100 --restarts "${RESTARTS:-1}" --restart-reduce "${REDUCE:-best}" --precision "${PRECISION:-fp32}" \
  --baselines none --save-images 0 --no-report --no-progress \
  "${losses[@]}" "${shard_opt[@]}" --out "$out"
