#!/usr/bin/env bash
# The regions celmatch reports for crops of reference frames, against the
# crops' true boxes (bench/crop_regions.py says how the crops are cut).
#
# Usage: CELMATCH=build/celmatch INDEX=IDX bash bench/crop_regions.sh OUT [OTHER_CELMATCH...]
#   INDEX: an index of the leak benchmark's four productions (tools/leak_benchmark.sh
#   builds one); every binary given matches the same crops, one table row each.
#   env: FOOTAGE (default ../shared/footage), SEED (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bash bench/crop_regions.sh OUT [OTHER_CELMATCH...]}
shift
CELMATCH=${CELMATCH:-build/celmatch}
INDEX=${INDEX:?INDEX: an index of the four productions (tools/leak_benchmark.sh)}
FOOTAGE=${FOOTAGE:-../shared/footage}
SEED=${SEED:-5}
[ -d "$FOOTAGE" ] || { echo "no footage at $FOOTAGE" >&2; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT/crops"
/usr/bin/python3 bench/crop_regions.py make "$FOOTAGE" "$(cd "$OUT/crops" && pwd)" "$SEED"
results=()
i=0
for bin in "$CELMATCH" "$@"; do
  "$bin" match --index "$INDEX" --jobs 2 -q --out "$OUT/results-$i.jsonl" "$OUT/crops"
  results+=("$OUT/results-$i.jsonl")
  echo "results-$i: $bin"
  i=$((i + 1))
done
/usr/bin/python3 bench/crop_regions.py score "$(cd "$OUT/crops" && pwd)" "${results[@]}"
