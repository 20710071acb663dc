#!/usr/bin/env bash
# Builds the libFuzzer targets of the file parsers with clang in ./build-fuzz and runs each for
# SECONDS seconds (default 60), seeded from tests/corpus. Fails on any crash, sanitizer report,
# leak, slow input or allocation over the limits; the input that did it is kept in
# build-fuzz/findings/<parser>/ (replay: build-fuzz/tests/fuzz/lockstep_fuzz_<parser> FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
cxx="${LOCKSTEP_FUZZ_CXX:-clang++}"

cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
  -DLOCKSTEP_FUZZ=ON -DLOCKSTEP_SANITIZE=ON -DLOCKSTEP_WITH_MPI=OFF -DLOCKSTEP_BUILD_TESTS=OFF -DLOCKSTEP_WITH_CUDA=OFF
cmake --build build-fuzz -j "$(nproc)" --target lockstep_fuzzers

# One BLAS thread: the readers never call BLAS, and idle BLAS threads only cost memory.
export OPENBLAS_NUM_THREADS=1
# A smaller quarantine keeps AddressSanitizer's resident memory well under the RSS limit.
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=64}"

status=0
for parser in idx npy safetensors; do
  corpus="build-fuzz/corpus/$parser"  # what the fuzzer learns, kept between runs
  findings="build-fuzz/findings/$parser"
  log="build-fuzz/fuzz-$parser.log"
  mkdir -p "$corpus" "$findings"
  # A single allocation over 256 MB or a resident size over 1.5 GB is a finding: no input of a
  # few kilobytes has a reason to cost that much.
  if build-fuzz/tests/fuzz/lockstep_fuzz_$parser -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=1536 -malloc_limit_mb=256 -print_final_stats=1 \
      -artifact_prefix="$findings/" "$corpus" "tests/corpus/$parser" \
      "tests/corpus/valid/$parser" > "$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
    echo "fuzz $parser: ${seconds}s, ${runs} inputs, peak ${rss} MB, no findings"
  else
    tail -n 60 "$log"
    echo "fuzz $parser: FAILED; log $log, inputs in $findings/" >&2
    status=1
  fi
done
exit "$status"
