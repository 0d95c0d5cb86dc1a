#!/usr/bin/env bash
# The candle upgrade (issue 17 item 4), A/B on a CUDA machine: two benchplan builds, one per
# candle version, run the GPU cells of the seed and vs-pytorch studies alternately (old, new,
# new, old, …), each run in a results folder of its own, then every same-rep pair is diffed
# (new over old) and the first pair's diff of each study printed.
#
#   bash tests/gpu/candle_ab.sh "RUNNER OLD_BIN" OLD_COMMIT "RUNNER NEW_BIN" NEW_COMMIT OUT [REPS]
#
# RUNNER is the wrapper that finds CUDA's libraries (tests/gpu's run-on-gpu.sh copy), or empty.
# The commits label the sets (the GPU machine has no .git). Each run's wall time goes to
# OUT/timings.txt. STUDIES (default "seed vs-pytorch") picks the studies; FILTERS adds `--filter`s
# to every run. The H200 sets in results/seed/…-16c/ab/candle-0.9.2-vs-0.11.1-h200 came from one
# rep (new, then old) with STUDIES=seed and FILTERS="--filter experiment=matmul --filter
# experiment=infer-quant --filter experiment=infer --filter experiment=train" (a device session's
# 10 minutes do not hold two full runs of the seed's GPU cells: 220–270 s each).
set -euo pipefail
cd "$(dirname "$0")/../.."
read -r -a old <<<"$1"
old_commit=$2
read -r -a new <<<"$3"
new_commit=$4
out=$5
reps=${6:-2}
read -r -a studies <<<"${STUDIES:-seed vs-pytorch}"
read -r -a filters <<<"${FILTERS:-}"
mkdir -p "$out"

one() { # one SIDE REP: both studies' GPU cells with that side's build
  local side=$1 rep=$2 bin commit
  if [ "$side" = old ]; then bin=("${old[@]}"); commit=$old_commit; else bin=("${new[@]}"); commit=$new_commit; fi
  for study in "${studies[@]}"; do
    local t0 t1
    t0=$(date +%s.%N)
    BENCHPLAN_GIT_COMMIT=$commit "${bin[@]}" --quiet run "plans/$study.toml" --filter device=gpu "${filters[@]}" \
      --machine candle-ab --results "$out/$side-$rep" >"$out/$side-$rep-$study.log" 2>&1 || true
    t1=$(date +%s.%N)
    echo "$side $rep $study $(python3 -c "print(round($t1 - $t0, 1))") s" | tee -a "$out/timings.txt"
  done
}

"${new[@]}" devices | tee "$out/devices.txt"
for rep in $(seq 1 "$reps"); do
  # Alternate which side goes first, so that neither always meets the warmer machine.
  if [ $((rep % 2)) = 1 ]; then one new "$rep"; one old "$rep"; else one old "$rep"; one new "$rep"; fi
done
for rep in $(seq 1 "$reps"); do
  for study in "${studies[@]}"; do
    a=$(find "$out/old-$rep/$study" -name cells.parquet | head -1)
    b=$(find "$out/new-$rep/$study" -name cells.parquet | head -1)
    [ -n "$a" ] && [ -n "$b" ] || continue
    "${new[@]}" diff "$(dirname "$a")" "$(dirname "$b")" --format json --fail-on never >"$out/diff-$study-$rep.json" || true
    "${new[@]}" diff "$(dirname "$a")" "$(dirname "$b")" --fail-on never >"$out/diff-$study-$rep.txt" || true
  done
done
for study in "${studies[@]}"; do head -120 "$out/diff-$study-1.txt" 2>/dev/null || true; done
