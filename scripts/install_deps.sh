#!/usr/bin/env bash
# Installs what Lockstep needs to build, test and train, from Debian packages and PyPI.
# Used by the README and by .ci/run; safe to run again.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  clang libclang-rt-14-dev clang-format
  libopenblas-dev zlib1g-dev nlohmann-json3-dev libboost-program-options-dev
  libopenmpi-dev openmpi-bin libgtest-dev
  dataset-fashion-mnist
  python3-numpy python3-torch
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -q
  $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The checkpoint interoperability test reads Lockstep's files with the reference
# safetensors reader; it runs under whichever python3 CTest finds.
python3 -m pip install -q --disable-pip-version-check numpy safetensors || \
  echo "warning: could not install numpy/safetensors with pip; the Python interop test will skip"
