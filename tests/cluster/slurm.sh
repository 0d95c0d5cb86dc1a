#!/usr/bin/env bash
# The Slurm scale-out test, on a real engine: starts a one-node Slurm cluster on localhost
# (.ci/slurm-local.sh: Debian's slurm-wlm and munge, as root), writes and submits the job
# array of tests/cluster/cluster.toml in 4 shards with its dependent merge job, waits for the
# merge, and checks that the merged result set holds exactly the cells of a single-process
# run of the same plan: the same cell ids, once each, every one measured.
#
#   tests/cluster/slurm.sh PATH/TO/benchplan
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(readlink -f "${1:?usage: tests/cluster/slurm.sh PATH/TO/benchplan}")
plan=tests/cluster/cluster.toml
scratch=$(mktemp -d)
cleanup() {
  bash .ci/slurm-local.sh stop >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT

bash .ci/slurm-local.sh start >"$scratch/slurm-start.log" 2>&1 || { cat "$scratch/slurm-start.log"; exit 1; }
eval "$(bash .ci/slurm-local.sh env)"
sinfo

echo "-- a single-process run of the plan, for reference"
"$bin" run "$plan" --results "$scratch/single" 2>&1 | tail -n 3

echo "-- the same plan as a Slurm job array of 4 shards, and the merge job"
"$bin" slurm "$plan" --shards 4 --out "$scratch/job" --results "$scratch/cluster" --shared --submit
read -r array merge <"$scratch/job/jobs"
state=""
for _ in $(seq 1 300); do
  state=$(scontrol show job "$merge" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -n1)
  case "$state" in
    COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;;
  esac
  sleep 1
done
echo "array job $array, merge job $merge: $state"
for log in "$scratch"/job/logs/*.out; do
  echo "== $log"
  tail -n 4 "$log"
done
if [ "$state" != COMPLETED ]; then
  scontrol show job "$array" || true
  scontrol show job "$merge" || true
  echo "FAIL: the merge job ended $state" >&2
  exit 1
fi
for k in 0 1 2 3; do
  [ -n "$(find "$scratch/job/shards/$k" -name cells.parquet)" ] || { echo "FAIL: shard $k wrote no result set" >&2; exit 1; }
done

single=$(find "$scratch/single" -name cells.parquet)
merged=$(find "$scratch/cluster" -name cells.parquet)
python3 tests/cluster/same_cells.py "$single" "$merged"
[ -f "$(dirname "$(dirname "$merged")")/REPORT.md" ] || { echo "FAIL: the merge job rendered no report" >&2; exit 1; }
echo "slurm: 4 shards merged into exactly the cells of the single-process run"
