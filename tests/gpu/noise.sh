#!/usr/bin/env bash
# Run-to-run noise on a CUDA machine (issue 16), with a benchplan built with `--features cuda`:
#  1. the cost of isolation: the 50 short cells of plans/gpu-noise.toml, isolated (default) and
#     --in-process, alternately, twice each (the first run after a machine starts is cold);
#  2. A/A: the thirteen matmul/train/infer cells run RUNS times back to back with default
#     settings, each consecutive pair diffed with default settings.
#
#   bash tests/gpu/noise.sh BENCHPLAN OUT [RUNS]
#
# BENCHPLAN may be a wrapper (run-on-gpu.sh BIN). Everything lands under OUT: the result sets,
# the diffs (JSON and table) and timings.txt. Set BENCHPLAN_GIT_COMMIT where the tree has no .git.
set -euo pipefail
cd "$(dirname "$0")/../.."
read -r -a bin <<<"$1"
out=$2
runs=${3:-4}
mkdir -p "$out"
plan=plans/gpu-noise.toml
machine=gpu-noise-machine

timed() { # timed LABEL ARGS...: one run, its wall time appended to timings.txt
  local label=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  "${bin[@]}" --quiet run "$plan" --machine "$machine" "$@" >"$out/$label.log" 2>&1 || true
  t1=$(date +%s.%N)
  echo "$label $(python3 -c "print(round($t1 - $t0, 2))")" | tee -a "$out/timings.txt"
}

"${bin[@]}" devices | tee "$out/devices.txt"
for i in 1 2; do
  timed "short-isolated-$i" --filter experiment=short --results "$out/short-isolated-$i"
  timed "short-in-process-$i" --filter experiment=short --results "$out/short-in-process-$i" --in-process
done
aa=(--filter experiment=matmul --filter experiment=train --filter experiment=infer)
for i in $(seq 1 "$runs"); do
  timed "aa-$i" "${aa[@]}" --results "$out/aa-$i"
done
for i in $(seq 2 "$runs"); do
  a=$(find "$out/aa-$((i - 1))" -name cells.parquet | head -1)
  b=$(find "$out/aa-$i" -name cells.parquet | head -1)
  "${bin[@]}" diff "$a" "$b" --fail-on never >"$out/diff-aa-$((i - 1))-$i.txt" 2>&1 || true
  "${bin[@]}" diff "$a" "$b" --fail-on never --format json >"$out/diff-aa-$((i - 1))-$i.json" 2>/dev/null || true
  echo "A/A $((i - 1))→$i: $(tail -1 "$out/diff-aa-$((i - 1))-$i.txt")" | tee -a "$out/timings.txt"
done
