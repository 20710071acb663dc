#!/usr/bin/env bash
# launch/lockstep-run picks its ranks and mpirun flags as documented (checked with --dry-run,
# against a stand-in nvidia-smi), and really launches a program.
# usage: launcher.sh LOCKSTEP_RUN TRAIN
set -uo pipefail

run=$1
train=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
cores=$(nproc)

# expect DESCRIPTION PATTERN COMMAND...: the command succeeds and its output matches PATTERN.
expect() {
  local what=$1 pattern=$2
  shift 2
  local out
  if out=$("$@" 2>&1) && grep -Eq -- "$pattern" <<<"$out"; then
    echo "ok    $what"
  else
    echo "FAIL  $what: expected /$pattern/ in: $out"
    failures=$((failures + 1))
  fi
}

expect "one rank per core without GPUs" "mpirun -np $cores " \
  env -u OPENBLAS_NUM_THREADS PATH="$work:/usr/bin:/bin" "$run" --dry-run ./program
expect "ranks fill the cores: one BLAS thread" "OPENBLAS_NUM_THREADS=1 " \
  env -u OPENBLAS_NUM_THREADS "$run" --dry-run -n "$cores" ./program
expect "more ranks than cores: --oversubscribe" "-np $((cores + 1)) .*--oversubscribe" \
  "$run" -n $((cores + 1)) --dry-run ./program
expect "arguments pass through" "\./program --epochs 2 --data synthetic:10$" \
  "$run" -n 1 --dry-run ./program --epochs 2 --data synthetic:10
if [[ "$(id -u)" -eq 0 ]]; then
  expect "root: --allow-run-as-root" "--allow-run-as-root" "$run" -n 1 --dry-run ./program
fi

printf '#!/bin/sh\necho "GPU 0: Stand-in (UUID: GPU-0)"\necho "GPU 1: Stand-in (UUID: GPU-1)"\necho "GPU 2: Stand-in (UUID: GPU-2)"\n' \
  >"$work/nvidia-smi"
chmod +x "$work/nvidia-smi"
expect "one rank per GPU" "mpirun -np 3 " env PATH="$work:$PATH" "$run" --dry-run ./program

"$run" -n 0 ./program >/dev/null 2>&1
if [[ $? -eq 2 ]]; then echo "ok    -n 0 refused"; else echo "FAIL  -n 0 accepted"; failures=$((failures + 1)); fi

expect "launches train on 2 ranks" "test accuracy" \
  "$run" -n 2 "$train" --data synthetic:600 --epochs 1

if [[ $failures -ne 0 ]]; then
  echo "$failures case(s) failed"
  exit 1
fi
echo "all cases passed"
