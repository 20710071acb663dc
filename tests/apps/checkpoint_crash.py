#!/usr/bin/env python3
"""A crash while a checkpoint is written loses nothing that was saved before: rank 0 is
killed (LOCKSTEP_FAULT=kill_in_checkpoint, SIGKILL after the temporary is written and synced,
before the rename) and the job ends within 10 s with a non-zero code; the previous checkpoint
is intact (predict loads it), the unfinished temporary is not taken for a checkpoint, and
`--resume auto` continues from the previous checkpoint to weights and optimizer state
byte-identical to an uninterrupted run's (and removes the temporary). A crash in the very
first checkpoint leaves nothing to resume from: `--resume auto` starts afresh.

usage: checkpoint_crash.py MPIEXEC TRAIN PREDICT
Exits 77 (skipped) when Python's numpy or safetensors is missing.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoint_support import (checkpoints, compare, fail, require_numpy, run,  # noqa: E402
                                wait_for_exit)

JOB_END_LIMIT_S = 10
RUN = ["--data", "synthetic:1200", "--batch-size", "100", "--epochs", "2", "--seed", "3",
       "--checkpoint-every", "3"]


def temporaries(folder):
    return [name for name in os.listdir(folder) if ".tmp-" in name]


def crash(mpiexec, train, folder, fault):
    """Trains with LOCKSTEP_FAULT=`fault` and checks that the job ends fast, non-zero."""
    command = [mpiexec, "-n", "2", train, "--checkpoint-dir", folder] + RUN
    print("$ LOCKSTEP_FAULT=%s %s" % (fault, " ".join(command)), flush=True)
    job = subprocess.Popen(command, env=dict(os.environ, LOCKSTEP_FAULT=fault),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           errors="replace")
    code, _, output = wait_for_exit(job, JOB_END_LIMIT_S + 60)
    if code == 0:
        fail("the job reported success although rank 0 was killed")
    if "injecting kill_in_checkpoint on rank 0" not in output:
        fail("the fault was not injected")
    if not temporaries(folder):
        fail("no temporary was left: the kill did not land inside the checkpoint write")


def main():
    require_numpy()
    mpiexec, train, predict = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as work:
        reference = os.path.join(work, "reference")
        run([mpiexec, "-n", "2", train, "--checkpoint-dir", reference] + RUN)

        # Killed while writing the checkpoint of step 6: ckpt-3 stays the newest.
        folder = os.path.join(work, "run")
        crash(mpiexec, train, folder, "kill_in_checkpoint:0:5")
        if sorted(checkpoints(folder)) != [3]:
            fail("expected exactly ckpt-3 after the crash, found %s" % sorted(checkpoints(folder)))
        previous = checkpoints(folder)[3]
        run([predict, "--checkpoint", previous])
        result = run([mpiexec, "-n", "2", train, "--checkpoint-dir", folder, "--resume", "auto"])
        if "resuming '%s'" % previous not in result.stdout:
            fail("--resume auto did not continue from ckpt-3")
        compare(checkpoints(folder)[20], checkpoints(reference)[20])
        if temporaries(folder):
            fail("temporaries were left behind: %s" % temporaries(folder))

        # Killed while writing the first checkpoint: nothing to resume, a fresh start.
        first = os.path.join(work, "first")
        crash(mpiexec, train, first, "kill_in_checkpoint:0:1")
        if checkpoints(first):
            fail("a checkpoint appeared although its write was killed")
        result = run([mpiexec, "-n", "2", train, "--checkpoint-dir", first, "--resume", "auto"]
                     + RUN)
        if "starting afresh" not in result.stdout:
            fail("--resume auto did not say it starts afresh")
        compare(checkpoints(first)[20], checkpoints(reference)[20])
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
