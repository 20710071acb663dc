#!/usr/bin/env bash
# Runs a command that must fail fast: passes when it exits non-zero within MAX_SECONDS and its
# stderr contains TEXT. Usage: expect_fast_failure.sh MAX_SECONDS TEXT COMMAND [ARGS...]
set -uo pipefail

if [[ $# -lt 3 ]]; then
  echo "usage: $0 MAX_SECONDS TEXT COMMAND [ARGS...]" >&2
  exit 2
fi
max_seconds=$1
text=$2
shift 2

stderr_file=$(mktemp)
trap 'rm -f "$stderr_file"' EXIT

start=$(date +%s%N)
# A hung job is killed a little after the limit, so that the check below reports it.
timeout --kill-after=5 $((max_seconds + 5)) "$@" 2>"$stderr_file"
code=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))

echo "--- stderr of: $* ---"
cat "$stderr_file"
echo "--- exit code $code after ${elapsed_ms} ms ---"

failed=0
if [[ $code -eq 0 ]]; then
  echo "FAIL: expected a non-zero exit code, found 0"
  failed=1
fi
if [[ $elapsed_ms -ge $((max_seconds * 1000)) ]]; then
  echo "FAIL: expected the job to end within ${max_seconds} s, it took ${elapsed_ms} ms"
  failed=1
fi
if ! grep -qF -- "$text" "$stderr_file"; then
  echo "FAIL: expected stderr to contain '$text'"
  failed=1
fi
[[ $failed -eq 0 ]] && echo "PASS: failed fast with '$text'"
exit $failed
