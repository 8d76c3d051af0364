#!/usr/bin/env bash
# docs/report.png, the README's picture of a report: the demo's report
# (bash tools/demo.sh) as headless Chromium draws it, 960 pixels wide.
#
# Usage: bash tools/report_screenshot.sh [DEMO_OUT]   (default demo-out)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-demo-out}
[ -f "$OUT/report.html" ] || { echo "no $OUT/report.html: run bash tools/demo.sh first" >&2; exit 1; }
command -v chromium >/dev/null || { echo "no chromium: bash tools/install-deps.sh installs it" >&2; exit 1; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
  --window-size=960,1200 --screenshot="$PWD/docs/report.png" "file://$(realpath "$OUT/report.html")" 2>/dev/null
echo "docs/report.png from $OUT/report.html"
