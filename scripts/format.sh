#!/usr/bin/env bash
# Formats Lockstep's C++ and CUDA sources with clang-format (.clang-format), or with --check
# lists the files that differ from it and fails (the test suite runs the check).
set -euo pipefail
cd "$(dirname "$0")/.."
clang_format="${CLANG_FORMAT:-clang-format}"
mapfile -t files < <(git ls-files -- '*.h' '*.cpp' '*.cu' '*.cuh')
if [ "${1:-}" = "--check" ]; then
  differing=()
  for file in "${files[@]}"; do
    "$clang_format" --dry-run --Werror "$file" > /dev/null 2>&1 || differing+=("$file")
  done
  if [ "${#differing[@]}" -gt 0 ]; then
    printf '%s\n' "${differing[@]}"
    echo "${#differing[@]} of ${#files[@]} files differ from .clang-format; run scripts/format.sh"
    exit 1
  fi
  echo "${#files[@]} files follow .clang-format ($("$clang_format" --version))"
else
  "$clang_format" -i "${files[@]}"
fi
