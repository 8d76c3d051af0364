#!/usr/bin/env bash
# Submits the whole sharded pipeline to Slurm and prints its four job ids:
#   1. build-parts    array of N: part indexes of the footage
#   2. merge-index    after 1 succeeded: WORK/index
#   3. match-shards   array of M, after 2: WORK/results/part-*.jsonl
#   4. merge-results  after 3: WORK/results.jsonl
#
#   tools/slurm/submit.sh [--build-shards N] [--match-shards M] WORK FOOTAGE DUMP
#
# Job logs go to WORK/logs. Slurm's own SBATCH_* variables (SBATCH_PARTITION,
# SBATCH_ACCOUNT, ...) apply to every job; CELMATCH names the binary (default:
# `celmatch` on PATH), and the jobs inherit it (sbatch exports the
# environment).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build_n=4
match_n=4
while [ $# -gt 0 ]; do
  case "$1" in
    --build-shards) build_n=$2; shift 2 ;;
    --match-shards) match_n=$2; shift 2 ;;
    --) shift; break ;;
    -*) echo "submit.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -eq 3 ] || { echo "usage: $0 [--build-shards N] [--match-shards M] WORK FOOTAGE DUMP" >&2; exit 2; }
work=$(mkdir -p "$1" && cd "$1" && pwd)
footage=$(cd "$2" && pwd)
dump=$(cd "$3" && pwd)
mkdir -p "$work/logs"
export CELMATCH=${CELMATCH:-$(command -v celmatch || echo celmatch)}
# Slurm runs a copy of the script, so the scripts find their helpers here.
export CELMATCH_SLURM_DIR=$here
logs=(--output="$work/logs/%x-%A_%a.out")

build=$(sbatch --parsable "${logs[@]}" --array=0-$((build_n - 1)) "$here/build-parts.sbatch" "$work" "$footage")
merge=$(sbatch --parsable "${logs[@]}" --dependency=afterok:"$build" "$here/merge-index.sbatch" "$work" "$build_n")
match=$(sbatch --parsable "${logs[@]}" --array=0-$((match_n - 1)) --dependency=afterok:"$merge" \
  "$here/match-shards.sbatch" "$work" "$dump")
results=$(sbatch --parsable "${logs[@]}" --dependency=afterok:"$match" \
  "$here/merge-results.sbatch" "$work" "$match_n")
echo "build=$build merge=$merge match=$match results=$results"
