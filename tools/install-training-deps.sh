#!/usr/bin/env bash
# Installs what models/train_embedding.py needs to retrain celmatch's embedding:
# Debian's PyTorch, torchvision and ONNX for /usr/bin/python3, and drawn-art
# packages used as training images. Not needed to build or test celmatch (the
# trained model is committed in models/), so CI's tools/install-deps.sh stays lean.
# Idempotent: packages already present are left alone; apt-get update runs only
# when something is missing.
set -euo pipefail

PACKAGES=(
  python3-numpy python3-opencv
  python3-torch python3-torchvision python3-onnx
  openclipart-png          # Open Clip Art Library as PNG (public domain dedication)
  tuxpaint-stamps-default  # Tux Paint stamps: drawn PNG stamps (GPL-2+ / various free)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-training-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-training-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
