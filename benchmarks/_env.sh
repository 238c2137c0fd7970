# Sourced by the benchmark scripts (`source "$(dirname "$0")/../_env.sh"`): strict mode, the
# repository root as the working directory, and the settings they share.
#   DATA  the Stanford Cars 64x64 folder (env INPAINTKIT_DATA, default ../shared/data/stanford-cars-64)
#   M     the committed Stanford Cars models
#   IK    the inpaintkit command (env INPAINTKIT, default .venv/bin/inpaintkit, the README install)
# and one thread per process unless OMP_NUM_THREADS says otherwise (the runs are sharded instead).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA=${INPAINTKIT_DATA:-../shared/data/stanford-cars-64}
M=benchmarks/models/stanford-cars-64
IK=${INPAINTKIT:-.venv/bin/inpaintkit}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
