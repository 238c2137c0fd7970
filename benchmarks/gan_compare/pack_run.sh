#!/usr/bin/env bash
# Commit-ready copy of a training run that has not finished, so that another machine can resume it:
# its small files (config.json, meta.json, losses.csv/png, samples.png, snapshots.csv) and its
# checkpoint.pt split into parts of at most 24 MiB (git hosts refuse files over 100 MB), with a sha256.
#
#   benchmarks/gan_compare/pack_run.sh RUN_DIR DEST        # e.g. runs/gan-X benchmarks/models/.../gan-X-run
#   benchmarks/gan_compare/pack_run.sh --unpack DEST RUN_DIR   # reassemble, verify, then train-gan --resume
#
# Pack copies the checkpoint first (a run writes it atomically, so the copy is one consistent
# iteration) and splits the copy. Unpack refuses a RUN_DIR that already has a checkpoint.
set -euo pipefail
small=(config.json meta.json losses.csv losses.png samples.png snapshots.csv)
if [[ ${1:-} == --unpack ]]; then
  src=${2:?--unpack DEST RUN_DIR}; run=${3:?--unpack DEST RUN_DIR}
  [[ -f $run/checkpoint.pt ]] && { echo "pack_run: $run/checkpoint.pt exists; not overwriting" >&2; exit 1; }
  ls "$src"/checkpoint.pt.part-* >/dev/null 2>&1 || { echo "pack_run: no checkpoint parts in $src" >&2; exit 1; }
  [[ -f $src/checkpoint.sha256 ]] || { echo "pack_run: no checkpoint.sha256 in $src" >&2; exit 1; }
  mkdir -p "$run"
  cat $(ls "$src"/checkpoint.pt.part-* | sort -V) > "$run/checkpoint.pt.tmp"
  want=$(cut -d' ' -f1 "$src/checkpoint.sha256")
  got=$(sha256sum "$run/checkpoint.pt.tmp" | cut -d' ' -f1)
  if [[ $want != "$got" ]]; then
    rm -f "$run/checkpoint.pt.tmp"
    echo "pack_run: sha256 mismatch for the reassembled checkpoint ($got, expected $want)" >&2; exit 1
  fi
  for f in "${small[@]}"; do [[ -f $src/$f ]] && cp "$src/$f" "$run/"; done
  mv "$run/checkpoint.pt.tmp" "$run/checkpoint.pt"
  echo "pack_run: $run/checkpoint.pt reassembled and verified"
  exit 0
fi
run=${1:?RUN_DIR DEST}; dest=${2:?RUN_DIR DEST}
[[ -f $run/checkpoint.pt ]] || { echo "pack_run: no checkpoint.pt in $run" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$run/checkpoint.pt" "$tmp/checkpoint.pt"
split -b "${PART_BYTES:-24M}" -d -a 1 "$tmp/checkpoint.pt" "$tmp/checkpoint.pt.part-"
(cd "$tmp" && sha256sum checkpoint.pt) > "$tmp/checkpoint.sha256"
rm "$tmp/checkpoint.pt"
mkdir -p "$dest"
rm -f "$dest"/checkpoint.pt.part-*
for f in "${small[@]}"; do [[ -f $run/$f ]] && cp "$run/$f" "$dest/"; done
mv "$tmp"/checkpoint.pt.part-* "$tmp/checkpoint.sha256" "$dest/"
echo "pack_run: $(ls "$dest"/checkpoint.pt.part-* | wc -l) parts and checkpoint.sha256 in $dest"
