#!/usr/bin/env bash
# Choose the demo preset's search settings by measurement, on the synthetic-cars *val* split
# (the demo scores the test split, so the choice never sees its images).
#
#   benchmarks/demo/tune.sh [GAN]        # GAN: a generator checkpoint; default the bundled one
#   python benchmarks/demo/collect.py    # the table: benchmarks/results/demo-tune/README.md
#
# Every run resumes (rerun the script after an interruption); the rows land in
# runs/demo-tune/<name>/ and collect.py copies them to benchmarks/results/demo-tune/<name>.csv.
set -euo pipefail
cd "$(dirname "$0")/../.."
IK=${IK:-.venv/bin/inpaintkit}
GAN=${1:-inpaintkit/assets/synthetic-cars-gan.pt}
TAG=${TAG:-$(basename "$GAN" .pt)}
RUNS=${RUNS:-runs/demo-tune}
C=(--data synthetic-cars --split val -n 32 --batch-size 32 --masks center,left,random:0.7
   --gan "$GAN" --eval-classifier inpaintkit/assets/synthetic-cars-evaluator.pt --save-images 8
   --no-progress --seed 0)
L=(--losses context,prior,sem,cat --baselines yeh)

run() {  # name, then bench options
  local name=$1; shift
  echo "== $TAG/$name"
  $IK bench "${C[@]}" "$@" --out "$RUNS/$TAG/$name" | tail -n 3
}
# the classical baseline, once (it does not depend on the search settings)
run im --baselines im,ce
# the search: optimiser settings at about the demo's time budget, and two beyond it
run adam-lr0.03-it30 "${L[@]}" --optimizer adam --lr 0.03 --iters 30
run adam-lr0.1-it30 "${L[@]}" --optimizer adam --lr 0.1 --iters 30
run adam-lr0.03-it15x2-mean "${L[@]}" --optimizer adam --lr 0.03 --iters 15 --restarts 2 --restart-reduce mean
run adam-lr0.1-it15x2-mean "${L[@]}" --optimizer adam --lr 0.1 --iters 15 --restarts 2 --restart-reduce mean
# the sem/cat weights at the best settings above: the calibrated table (fixed weights calibrated on
# the Stanford Cars GoogLeNet) against auto:R, scale-free, for the bundled classifier
M=(--optimizer adam --lr 0.03 --iters 15 --restarts 2 --restart-reduce mean)
# (the committed rows of this run were made with --weights ratio when the table's R was 0.3)
run ratio0.3-adam-lr0.03-it15x2-mean --losses context,prior,sem=auto:0.3,cat=auto:0.3 --baselines yeh "${M[@]}"
run ratio0.1-adam-lr0.03-it15x2-mean --losses context,prior,sem=auto:0.1,cat=auto:0.1 --baselines none "${M[@]}"
