#!/usr/bin/env bash
# Faults injected into train on 4 ranks with LOCKSTEP_FAULT (a testing aid): a rank killed by
# SIGKILL or SIGSEGV or ending with exit(5) at step 3 ends the whole job within 10 s with a
# non-zero code; a rank that throws ends it with exit code 2; a rank that hangs, with
# --collective-timeout 3, ends it within 10 s with exit code 3 and a report naming the
# collective and the missing rank.
# Usage: fault_train.sh EXPECT_JOB_END MPIEXEC TRAIN
set -uo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 EXPECT_JOB_END MPIEXEC TRAIN" >&2
  exit 2
fi
expect=$1
mpiexec=$2
train=$3
job=("$mpiexec" -n 4 "$train" --data synthetic:3000 --batch-size 64 --epochs 1)
failed=0

# run_case FAULT WITHIN_S CODE STDERR_TEXT [TRAIN ARGS...]
run_case() {
  local fault=$1 within=$2 code=$3 text=$4
  shift 4
  echo "=== LOCKSTEP_FAULT=$fault"
  LOCKSTEP_FAULT=$fault bash "$expect" "$within" "$code" --stderr "$text" -- "${job[@]}" "$@" \
    || failed=1
}

run_case sigkill:2:3 10 nonzero "LOCKSTEP_FAULT: injecting sigkill on rank 2 at step 3"
run_case sigsegv:2:3 10 nonzero "LOCKSTEP_FAULT: injecting sigsegv on rank 2 at step 3"
run_case exit:5:2:3 10 nonzero "LOCKSTEP_FAULT: injecting exit on rank 2 at step 3"
run_case throw:2:3 10 2 "[rank 2] error: LOCKSTEP_FAULT: injected failure on rank 2 at step 3"
if "$train" --help 2>/dev/null | grep -q -- --collective-timeout; then
  run_case hang:2:3 10 3 "collective timed out after 3 s: allgather(step check)" \
    --collective-timeout 3
else
  echo "SKIP hang: this train has no --collective-timeout option"
fi

if [[ $failed -ne 0 ]]; then
  echo "FAIL: a faulty job did not end as expected (above)"
  exit 1
fi
echo "PASS"
