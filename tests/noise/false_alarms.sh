#!/usr/bin/env bash
# Measures, live on this machine, how often `benchplan diff` with default settings calls two
# back-to-back runs of unchanged code different (false alarms), and how often it finds a real
# 10% slowdown planted in one cell (power), on plans/noise.toml (six cells of real work).
#
#   bash tests/noise/false_alarms.sh [BENCHPLAN] [PAIRS] [TRIES] [OUT]
#
# PAIRS A/A pairs (default 20) and TRIES planted slowdowns (default 10); every result set and
# diff is kept under OUT (default: a new temporary folder). The last two lines are the figures.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-target/release/benchplan}
pairs=${2:-20}
tries=${3:-10}
out=${4:-$(mktemp -d)}
mkdir -p "$out"
kernels=(sort sha256 compress json regex copy)

run() { # run NAME [ENV...]: one default run of the noise plan into $out/NAME
  local name=$1; shift
  env "$@" "$bin" --quiet run plans/noise.toml --results "$out/$name" --machine noise-machine >/dev/null
  find "$out/$name" -name cells.parquet -printf '%h\n' | head -1
}

flags() { # flags OLD NEW: the diff's verdicts as "slower faster" counts, and the JSON kept
  local name=$3
  "$bin" diff "$1" "$2" --format json --fail-on never > "$out/$name.json"
  python3 tests/noise/flagged.py "$out/$name.json"
}

false_alarms=0
for i in $(seq 1 "$pairs"); do
  a=$(run "aa$i-a"); b=$(run "aa$i-b")
  IFS='|' read -r n slow fast <<<"$(flags "$a" "$b" "aa$i")" || true
  if [ "${n:-0}" -gt 0 ]; then false_alarms=$((false_alarms + 1)); fi
  echo "A/A pair $i: ${n:-0} cell(s) flagged ${slow:+slower: $slow }${fast:+faster: $fast}"
done

found=0; clean=0
for i in $(seq 1 "$tries"); do
  k=${kernels[$(( (i - 1) % ${#kernels[@]} ))]}
  a=$(run "ab$i-a"); b=$(run "ab$i-b" NOISE_SLOW_KERNEL="$k" NOISE_SLOWDOWN=1.10)
  IFS='|' read -r n slow fast <<<"$(flags "$a" "$b" "ab$i")" || true
  [[ ";$slow;" == *";kernel=$k;"* ]] && found=$((found + 1))
  [ "$slow" = "kernel=$k" ] && [ -z "$fast" ] && clean=$((clean + 1))
  echo "$k" > "$out/ab$i-b/PLANTED" # which kernel was slowed, for replaying the pair
  echo "planted 10% in $k, try $i: ${n:-0} cell(s) flagged ${slow:+slower: $slow }${fast:+faster: $fast}"
done
echo "results and diffs: $out"
echo "false alarms: $false_alarms of $pairs A/A pairs flagged a cell"
echo "power: $found of $tries planted 10% slowdowns found; $clean of $tries with no other cell flagged"
