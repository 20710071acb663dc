#!/usr/bin/env bash
# Builds Lockstep and runs every test: the file parsers (data and io tests) under
# AddressSanitizer + UBSan in ./build-asan, each parser's libFuzzer target for a bounded time
# in ./build-fuzz, then the full suite in ./build (last, so its summary closes the output).
set -euo pipefail
cd "$(dirname "$0")/.."

# One BLAS thread per test process: ctest runs tests side by side on every core.
export OPENBLAS_NUM_THREADS=1

cmake --preset asan
cmake --build --preset asan -j "$(nproc)" --target lockstep_data_tests lockstep_io_tests
ctest --preset asan -j "$(nproc)" -L 'data|io'

# The parsers' libFuzzer targets (clang, ASan + UBSan), 20 seconds each, seeded from tests/corpus.
bash scripts/fuzz.sh 20

bash scripts/build.sh
ctest --preset release -j "$(nproc)"
