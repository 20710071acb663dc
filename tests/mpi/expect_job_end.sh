#!/usr/bin/env bash
# Runs a job that must end by itself, and checks how: within MAX_SECONDS, with exit code CODE
# ("nonzero" for any failure, or a number), with every TEXT in its stderr.
# Usage: expect_job_end.sh MAX_SECONDS CODE [--stderr TEXT]... -- COMMAND [ARGS...]
set -uo pipefail

usage() {
  echo "usage: $0 MAX_SECONDS CODE [--stderr TEXT]... -- COMMAND [ARGS...]" >&2
  exit 2
}
[[ $# -ge 4 ]] || usage
max_seconds=$1
expected_code=$2
shift 2
texts=()
while [[ $# -gt 0 && $1 != "--" ]]; do
  [[ $1 == "--stderr" && $# -ge 2 ]] || usage
  texts+=("$2")
  shift 2
done
[[ $# -ge 2 ]] || usage
shift  # --

stderr_file=$(mktemp)
trap 'rm -f "$stderr_file"' EXIT

start=$(date +%s%N)
# A job that does not end is killed a little after the limit, so that the check reports it.
timeout --kill-after=5 $((max_seconds + 5)) "$@" 2>"$stderr_file"
code=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))

echo "--- stderr of: LOCKSTEP_FAULT=${LOCKSTEP_FAULT:-} $* ---"
cat "$stderr_file"
echo "--- exit code $code after ${elapsed_ms} ms ---"

failed=0
if [[ $expected_code == nonzero ]]; then
  if [[ $code -eq 0 ]]; then
    echo "FAIL: expected a non-zero exit code, found 0"
    failed=1
  fi
elif [[ $code -ne $expected_code ]]; then
  echo "FAIL: expected exit code $expected_code, found $code"
  failed=1
fi
if [[ $elapsed_ms -ge $((max_seconds * 1000)) ]]; then
  echo "FAIL: expected the job to end within ${max_seconds} s, it took ${elapsed_ms} ms"
  failed=1
fi
for text in "${texts[@]}"; do
  if ! grep -qF -- "$text" "$stderr_file"; then
    echo "FAIL: expected stderr to contain '$text'"
    failed=1
  fi
done
[[ $failed -eq 0 ]] && echo "PASS: ended in ${elapsed_ms} ms with exit code $code"
exit $failed
