#!/usr/bin/env bash
# Pages of panels (retake sheets, storyboards, contact sheets): how many of
# their panels celmatch names, panel by panel and with --no-panels (the page
# as one picture), and the same pages bound as PDFs; bench/panel_sheets.py
# says how the pages are drawn.
#
# Usage: CELMATCH=build/celmatch INDEX=IDX bash bench/panel_sheets.sh OUT
#   INDEX: an index of the leak benchmark's four productions (tools/leak_benchmark.sh
#   builds one). env: FOOTAGE (default ../shared/footage), SEED (default 11)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bash bench/panel_sheets.sh OUT}
CELMATCH=${CELMATCH:-build/celmatch}
INDEX=${INDEX:?INDEX: an index of the four productions (tools/leak_benchmark.sh)}
FOOTAGE=${FOOTAGE:-../shared/footage}
SEED=${SEED:-11}
[ -d "$FOOTAGE" ] || { echo "no footage at $FOOTAGE" >&2; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT"
/usr/bin/python3 bench/panel_sheets.py make "$FOOTAGE" "$(cd "$OUT" && pwd)" "$SEED"
"$CELMATCH" match --index "$INDEX" --jobs 2 -q --out "$OUT/panels.jsonl" "$OUT/pages"
"$CELMATCH" match --index "$INDEX" --jobs 2 -q --no-panels --out "$OUT/whole-page.jsonl" "$OUT/pages"
/usr/bin/python3 bench/panel_sheets.py bind "$(cd "$OUT" && pwd)"
"$CELMATCH" match --index "$INDEX" --jobs 2 -q --out "$OUT/documents.jsonl" "$OUT/documents"
/usr/bin/python3 bench/panel_sheets.py score "$OUT" "$OUT/panels.jsonl" "$OUT/whole-page.jsonl" \
  "$OUT/documents.jsonl"
