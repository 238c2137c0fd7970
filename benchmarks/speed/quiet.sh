#!/usr/bin/env bash
# Run the speed suite while this machine's background training runs are paused.
#
#   benchmarks/speed/quiet.sh [run.py options...]     e.g. --sections matmul,flops,search,naive,blend
#
# Finds the PIDs of the background training and benchmark runs (`inpaintkit train-gan`,
# `inpaintkit bench`, the same run from a pinned checkout as `python -c "from inpaintkit.cli import
# main; main()" train-gan|bench`, `train-classifier`, `python -m classifiers`, running for at least 5 minutes), sends them SIGSTOP, runs `python benchmarks/speed/run.py --threads 2
# "$@"` under a hard time limit (QUIET_LIMIT_S, default 600 s), and sends SIGCONT from an EXIT trap,
# so the runs are always resumed: on success, on error, on Ctrl-C or on a kill of this script
# (except SIGKILL, which no trap can catch). Before pausing, it waits (QUIET_WAIT_S, default 900 s)
# until no other process uses more than 15% of a CPU (benchmarks/speed/busy.py), since other
# people's jobs are not paused. The paused PIDs and the load average before pausing
# are passed to run.py, which records them in the JSON. QUIET_SCRIPT runs another script of the
# suite instead of run.py (e.g. benchmarks/speed/tree_ab.py), with the same --threads 2.
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}  # the README install: a .venv at the repo root
[[ -x "$PY" ]] || PY=python
LIMIT=${QUIET_LIMIT_S:-600}

pids=()
desc=()
# Only runs older than QUIET_MIN_AGE_S (default 300 s): short invocations with the same command
# line (a test calling `python -m classifiers --help`, a dry run) are other people's work in flight.
MIN_AGE=${QUIET_MIN_AGE_S:-300}
while read -r pid age cmd; do
  [[ -z "$pid" || "$pid" == "$$" || "$pid" == "$BASHPID" ]] && continue
  ((age >= MIN_AGE)) || continue
  pids+=("$pid")
  desc+=("$pid ${cmd:0:80}")
done < <(ps -eo pid=,etimes=,args= | grep -E 'inpaintkit(\.cli)? (train-gan|bench)|main\(\) (train-gan|bench)|train-classifier|python[0-9.]* -m classifiers( |$)' \
         | grep -v -E 'grep|quiet\.sh|--help')

resume() {
  if ((${#pids[@]})); then
    kill -CONT "${pids[@]}" 2>/dev/null
    echo "[quiet.sh] resumed ${#pids[@]} process(es): ${pids[*]}" >&2
  fi
}
child=""
stop_child() { [[ -n "$child" ]] && kill -INT "$child" 2>/dev/null; wait "$child" 2>/dev/null; }
trap resume EXIT
# the suite runs in the background and this shell waits for it, so a signal is handled at once
trap 'stop_child; exit 130' INT
trap 'stop_child; exit 143' TERM HUP

# Wait (up to QUIET_WAIT_S, default 900 s) until nothing but the training runs uses the CPUs:
# other people's jobs cannot be paused, and two-thread timings collapse when a core is taken.
WAIT=${QUIET_WAIT_S:-900}
waited=0
exclude=$(IFS=,; echo "${pids[*]:-}")
until busy=$("$PY" benchmarks/speed/busy.py --interval 3 --threshold 15 --exclude "$exclude"); do
  if ((waited >= WAIT)); then
    echo "[quiet.sh] still busy after ${waited}s, running anyway:" >&2
    echo "$busy" >&2
    break
  fi
  ((waited == 0)) && { echo "[quiet.sh] waiting for a quiet machine; busy now:" >&2; echo "$busy" >&2; }
  sleep 12
  waited=$((waited + 15))
done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
if ((${#pids[@]})); then
  kill -STOP "${pids[@]}"
  echo "[quiet.sh] paused ${#pids[@]} process(es): ${pids[*]} (load before: $load_before)" >&2
else
  echo "[quiet.sh] no background training runs found" >&2
fi

SPEED_PAUSED="$(IFS=';'; echo "${desc[*]:-}")" SPEED_LOADAVG_BEFORE_PAUSE="$load_before" \
  timeout --signal=INT "$LIMIT" "$PY" "${QUIET_SCRIPT:-benchmarks/speed/run.py}" --threads 2 "$@" &
child=$!
wait "$child"
status=$?
child=""
echo "[quiet.sh] ${QUIET_SCRIPT:-run.py} exited with $status; load now: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exit "$status"
