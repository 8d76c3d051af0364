#!/usr/bin/env bash
# Installs celmatch's build and test dependencies from Debian 12 packages.
# Idempotent: packages already present are left alone; apt-get update runs only
# when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ninja-build
  libopencv-dev libopencv-contrib-dev
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev
  libfaiss-dev libopenblas0-pthread libopenblas-pthread-dev
  libeigen3-dev libsqlite3-dev zlib1g-dev
  catch2 libbenchmark-dev libcli11-dev nlohmann-json3-dev
  libavif-dev ffmpeg
  libarchive-dev libcpp-httplib-dev
  libpoppler-cpp-dev  # PDF pages: retake notes, storyboards
  slurm-wlm munge  # the scheduler of tools/slurm/ and its one-machine cluster test
  chromium  # headless browser for the HTML report test
  clang libclang-rt-14-dev llvm  # sanitizers, libFuzzer and llvm-symbolizer (tools/sanitize-and-fuzz.sh)
  dpkg-dev  # dpkg-shlibdeps: the .deb's dependencies (cpack -G DEB, tests/test_install.cpp)
  tuxpaint-data librsvg2-bin python3-opencv python3-numpy  # drawn line art (bench/drawn_lineart.sh)
  python3-pil  # pages bound as PDFs (bench/panel_sheets.sh)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
