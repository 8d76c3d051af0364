#!/usr/bin/env bash
# Real drawn line art against colour renders without their lines (Tux Paint's
# colouring-book starters; bench/drawn_lineart.py says how the pairs are
# made): builds an index of the renders, matches the drawings and their scans,
# and scores them. Figures: bench/RESULTS.md.
#
# Usage: CELMATCH=build/celmatch bash bench/drawn_lineart.sh OUT
#   env: STARTERS (default /usr/share/tuxpaint/starters, Debian tuxpaint-data), SEED,
#        RENDER (nolines, default: the colour renders keep no drawn line; lines: they do)
# The starters drawn as SVG are rasterised 640 pixels wide by rsvg-convert
# (Debian librsvg2-bin) when a PNG of the same name is not there.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bash bench/drawn_lineart.sh OUT}
CELMATCH=${CELMATCH:-build/celmatch}
STARTERS=${STARTERS:-/usr/share/tuxpaint/starters}
SEED=${SEED:-5}
RENDER=${RENDER:-nolines}
[ -d "$STARTERS" ] || { echo "no Tux Paint starters at $STARTERS (apt-get install tuxpaint-data)" >&2; exit 1; }
[ -x "$CELMATCH" ] || { echo "no $CELMATCH: build it first" >&2; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT/starters"
cp "$STARTERS"/*.png "$OUT/starters/"
for svg in "$STARTERS"/*.svg; do
  png="$OUT/starters/$(basename "$svg" .svg).png"
  [ -e "$png" ] || rsvg-convert -w 640 -b none "$svg" -o "$png"
done
/usr/bin/python3 bench/drawn_lineart.py "$OUT/starters" "$OUT" "$SEED" "$RENDER"
"$CELMATCH" index build --index "$OUT/index" --production Starters "$OUT/ref/Starters"
"$CELMATCH" match --index "$OUT/index" --no-progress --out "$OUT/results.jsonl" "$OUT/dump" > /dev/null
"$CELMATCH" bench score --truth "$OUT/truth.csv" --results "$OUT/results.jsonl"
