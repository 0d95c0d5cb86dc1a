#!/usr/bin/env bash
# Measures, live on this machine, the false alarms and the power of `benchplan ab` (two
# revisions interleaved in the same rounds, paired diff) with default settings, on
# plans/noise.toml (six cells of real work), in a scratch git repository holding a copy of the
# plan and its program:
#  - A/A: the committed revision against an unchanged working tree, PAIRS times;
#  - power: a real 10% slowdown committed to one kernel's code (its default NOISE_SLOWDOWN set
#    to 1.10 in the program), against the revision before, TRIES times, kernel after kernel.
#
#   bash tests/noise/ab_power.sh [BENCHPLAN] [PAIRS] [TRIES] [OUT] [TARGET_CI]
#
# With TARGET_CI (e.g. 0.03), the copy of the plan asks for it (and at most 40 rounds): each
# cell gets rounds until its change between the revisions is known within ±TARGET_CI.
# Every result set and diff is kept under OUT (default: a new temporary folder). The last two
# lines are the figures.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "${1:-target/release/benchplan}")
pairs=${2:-10}
tries=${3:-10}
out=$(realpath -m "${4:-$(mktemp -d)}")
mkdir -p "$out"
repo="$out/repo"
rm -rf "$repo"
mkdir -p "$repo/plans/programs"
cp plans/noise.toml "$repo/plans/"
cp plans/programs/cpu_work.py "$repo/plans/programs/"
if [ -n "${5:-}" ]; then
  sed -i "s/^rounds = \([0-9]*\).*/rounds = \1\ntarget_ci = $5\nmax_rounds = 40/" "$repo/plans/noise.toml"
fi
echo "results/" >"$repo/.gitignore"
g() { git -C "$repo" -c user.name=benchplan -c user.email=noise@benchplan -c commit.gpgsign=false "$@"; }
g init -q
g add .
g commit -qm "the noise study"
kernels=(sort sha256 compress json regex copy)

ab() { # ab NAME ARGS...: one default A/B run; prints "count|slower keys|faster keys"
  local name=$1; shift
  (cd "$repo" && "$bin" --quiet ab plans/noise.toml --machine noise-machine --format json --fail-on never "$@") \
    >"$out/$name.json" 2>"$out/$name.log"
  python3 tests/noise/flagged.py "$out/$name.json"
}

false_alarms=0
for i in $(seq 1 "$pairs"); do
  IFS='|' read -r n slow fast <<<"$(ab "aa$i" --base HEAD)" || true
  if [ "${n:-0}" -gt 0 ]; then false_alarms=$((false_alarms + 1)); fi
  echo "A/A $i: ${n:-0} cell(s) flagged ${slow:+slower: $slow }${fast:+faster: $fast}"
done

found=0; clean=0
for i in $(seq 1 "$tries"); do
  k=${kernels[$(( (i - 1) % ${#kernels[@]} ))]}
  sed -i "s/os.environ.get(\"NOISE_SLOWDOWN\", \"1\")/os.environ.get(\"NOISE_SLOWDOWN\", \"1.10\")/; s/os.environ.get(\"NOISE_SLOW_KERNEL\")/os.environ.get(\"NOISE_SLOW_KERNEL\", \"$k\")/" \
    "$repo/plans/programs/cpu_work.py"
  g commit -qam "slow $k down by 10%"
  IFS='|' read -r n slow fast <<<"$(ab "ab$i" --base HEAD~1 --head HEAD)" || true
  g revert --no-edit HEAD >/dev/null
  [[ ";$slow;" == *";kernel=$k;"* ]] && found=$((found + 1))
  [ "$slow" = "kernel=$k" ] && [ -z "$fast" ] && clean=$((clean + 1))
  echo "planted 10% in $k, try $i: ${n:-0} cell(s) flagged ${slow:+slower: $slow }${fast:+faster: $fast}"
done
echo "results and diffs: $out"
echo "false alarms: $false_alarms of $pairs A/A runs of ab flagged a cell"
echo "power: $found of $tries planted 10% slowdowns found by ab; $clean of $tries with no other cell flagged"
