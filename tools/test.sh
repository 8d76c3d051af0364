#!/usr/bin/env bash
# Installs dependencies, builds celmatch and runs the whole test suite.
# Usage: bash tools/test.sh        (from the repository root)
# Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$BUILD_DIR" -j"$(nproc)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)" "$@"
