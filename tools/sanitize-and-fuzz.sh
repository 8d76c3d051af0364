#!/usr/bin/env bash
# AddressSanitizer + UBSan build of the test suite and a short libFuzzer smoke
# run of every target in tests/fuzz (image decode+hash, video sampling, index
# opening). Fails on any test failure, sanitizer report or fuzzer crash.
#
# Usage: bash tools/sanitize-and-fuzz.sh [ctest -R regex]
#   FUZZ_SECONDS   seconds per fuzz target (default 60)
#   BUILD_DIR      build folder (default build-asan)
#   JOBS           parallel build and test jobs (default: all cores)
#   SKIP_TESTS=1   build only the fuzz targets and the CLI (for the seeds), and fuzz
#   SANITIZE_EXCLUDE  ctest -E regex of tests left out (default: the slow end-to-end ones, below)
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build-asan}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
JOBS=${JOBS:-$(nproc)}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# Everything is built with fuzzer instrumentation (no libFuzzer main), so the
# fuzz targets see coverage inside the library, not only in their own file.
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCELMATCH_BUILD_BENCH=OFF -DCELMATCH_FUZZ=ON \
  -DCMAKE_C_FLAGS="$SAN -fsanitize=fuzzer-no-link" -DCMAKE_CXX_FLAGS="$SAN -fsanitize=fuzzer-no-link" \
  -DCMAKE_EXE_LINKER_FLAGS="$SAN"
start=$(date +%s)
if [ "${SKIP_TESTS:-0}" = 1 ]; then
  cmake --build "$BUILD_DIR" -j"$JOBS" --target celmatch fuzz_image_decode fuzz_video_sample fuzz_index_open
else
  cmake --build "$BUILD_DIR" -j"$JOBS"
fi
echo "sanitize-and-fuzz: build took $(( $(date +%s) - start )) s"

# FAISS and OpenBLAS leave their thread pools' memory to the OS at exit;
# leak reports are about celmatch, not them.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Left out of the sanitizer run by default: the end-to-end runs over the real
# footage (indexing 21 sources with local features and the embedding), the
# Slurm cluster, the headless-browser check of the report and the SIGKILL
# stress cycles. They drive the same library code as the unit tests on bigger
# inputs, take 5-10x longer under ASan than the 90-minute CI budget allows,
# and run unsanitized in tools/test.sh. SANITIZE_EXCLUDE='^$' runs everything.
SANITIZE_EXCLUDE=${SANITIZE_EXCLUDE:-^(test_footage_e2e|test_slurm|test_report_browser|test_index_stress):}
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  start=$(date +%s)
  if [ $# -gt 0 ]; then
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS" -R "$1"
  else
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS" -E "$SANITIZE_EXCLUDE"
  fi
  echo "sanitize-and-fuzz: tests took $(( $(date +%s) - start )) s"
fi

# Seeds: small valid files of each kind (FFmpeg's test sources), and a tiny
# real index packed as fuzz_index_open reads it.
work="$BUILD_DIR/fuzz-work"
rm -rf "$work"
mkdir -p "$work/seeds/image" "$work/seeds/video" "$work/seeds/index"
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }
ff -f lavfi -i testsrc=size=64x48:rate=5 -frames:v 1 "$work/seeds/image/a.png"
ff -f lavfi -i testsrc=size=64x48:rate=5 -frames:v 1 "$work/seeds/image/a.jpg"
ff -f lavfi -i testsrc=size=64x48:rate=5 -frames:v 1 "$work/seeds/image/a.bmp"
ff -f lavfi -i testsrc=size=64x48:rate=5 -frames:v 1 "$work/seeds/image/a.tiff"
ff -f lavfi -i testsrc=size=64x48:rate=5 -frames:v 1 "$work/seeds/image/a.webp"
ff -f lavfi -i testsrc=size=32x24:rate=5 -frames:v 1 "$work/seeds/image/a.gif"
ff -f lavfi -i testsrc=size=64x48:rate=5 -t 1 -c:v mpeg4 "$work/seeds/video/a.mp4"
ff -f lavfi -i testsrc=size=64x48:rate=5 -t 1 -c:v mjpeg "$work/seeds/video/a.avi"
ff -f lavfi -i testsrc=size=64x48:rate=5 -t 1 -c:v libvpx "$work/seeds/video/a.webm" 2>/dev/null || true
ff -f lavfi -i testsrc=size=32x24:rate=5 -t 1 "$work/seeds/video/a.gif"
mkdir -p "$work/footage/Show"
cp "$work/seeds/video/a.mp4" "$work/footage/Show/ep.mp4"
if ! "$BUILD_DIR/celmatch" index build --index "$work/index" --jobs 1 "$work/footage" > "$work/index-seed.log" 2>&1; then
  echo "sanitize-and-fuzz: building the seed index FAILED"
  tail -40 "$work/index-seed.log"
  exit 1
fi
/usr/bin/python3 - "$work/index" "$work/seeds/index/a.bin" <<'PY'
import struct, sys
d, out = sys.argv[1], sys.argv[2]
with open(out, "wb") as f:
    for name in ("manifest.json", "catalog.sqlite", "pdq.faissbin"):
        data = open(f"{d}/{name}", "rb").read()
        f.write(struct.pack("<I", len(data)) + data)
PY

status=0
for target in image_decode:image video_sample:video index_open:index; do
  name=fuzz_${target%%:*}
  seeds=$work/seeds/${target##*:}
  mkdir -p "$work/corpus-$name"
  echo "sanitize-and-fuzz: $name for $FUZZ_SECONDS s"
  if ! "$BUILD_DIR/tests/fuzz/$name" -max_total_time="$FUZZ_SECONDS" -timeout=20 -rss_limit_mb=2560 \
      -print_final_stats=1 -artifact_prefix="$work/$name-" "$work/corpus-$name" "$seeds" \
      > "$work/$name.log" 2>&1; then
    echo "sanitize-and-fuzz: $name FAILED; see $work/$name.log and $work/$name-*"
    tail -40 "$work/$name.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$name.log" | sed "s/^/  $name /"
  fi
done
exit $status
