#!/usr/bin/env bash
# Configures and builds Lockstep (Release, the "release" preset of CMakePresets.json) into
# ./build; extra arguments go to CMake.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset release "$@"
cmake --build --preset release -j "$(nproc)"
