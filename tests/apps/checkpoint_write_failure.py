#!/usr/bin/env python3
"""A checkpoint that cannot be written (here: rank 0 runs under a file-size limit, `ulimit
-f`, so its write fails with EFBIG as it would with ENOSPC on a full disk) leaves the previous
checkpoint byte for byte as it was and no temporary behind, and every rank reports it the same
way: by default the job stops with exit code 5 and each rank prints the error naming the
newest intact checkpoint; with --checkpoint-errors continue it trains to the end with those
warnings and exits 0. Also for a single checkpoint file (--checkpoint). (As root, chmod
proves nothing; a file-size limit holds for root too.)

usage: checkpoint_write_failure.py MPIEXEC TRAIN PREDICT
"""
import hashlib
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoint_support import EXIT_CHECKPOINT_FAILED, checkpoints, fail, run  # noqa: E402

LIMIT_KB = 256  # a checkpoint of mlp is about 3 MB
RUN = ["--data", "synthetic:1200", "--batch-size", "100", "--epochs", "2"]
# Rank 0 alone gets the limit; mpirun and the shared-memory transport would trip over it, so
# the ranks talk over TCP on the loopback device. Lockstep ignores SIGXFSZ, so the write fails
# with EFBIG instead of killing the rank.
LIMITED = 'if [ "$OMPI_COMM_WORLD_RANK" = 0 ]; then ulimit -f %d; fi; exec "$0" "$@"' % LIMIT_KB


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def limited(mpiexec, train, *args):
    """Resumes the run (past the --max-steps of its first part) with rank 0 limited."""
    return ([mpiexec, "-n", "2", "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo",
             "sh", "-c", LIMITED, train,
             "--resume", "auto", "--max-steps", "0"] + list(args))


def check_reports(stderr, step, kept, kind):
    for rank in (0, 1):
        expected = ("[rank %d] %s: checkpoint of step %d could not be written: " % (rank, kind, step))
        lines = [line for line in stderr.splitlines() if line.startswith(expected)]
        if not lines:
            fail("rank %d did not report the failed checkpoint of step %d" % (rank, step))
        if "File too large" not in lines[0] or "'%s'" % kept not in lines[0]:
            fail("the report does not give the cause and the intact checkpoint: %s" % lines[0])


def check_intact(folder, kept, before):
    names = os.listdir(folder)
    if [name for name in names if ".tmp-" in name]:
        fail("a temporary was left behind: %s" % names)
    if digest(kept) != before:
        fail("%s changed" % kept)


def main():
    mpiexec, train, predict = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as work:
        folder = os.path.join(work, "run")
        run([mpiexec, "-n", "2", train, "--checkpoint-dir", folder, "--max-steps", "5"] + RUN)
        kept = checkpoints(folder)[5]
        before = digest(kept)

        result = run(limited(mpiexec, train, "--checkpoint-dir", folder, "--checkpoint-every", "5"), expect=EXIT_CHECKPOINT_FAILED)
        check_reports(result.stderr, 10, kept, "error")
        if "training stops (exit code 5)" not in result.stderr:
            fail("the report does not say that training stops")
        check_intact(folder, kept, before)
        if sorted(checkpoints(folder)) != [5]:
            fail("expected only ckpt-5, found %s" % sorted(checkpoints(folder)))
        run([predict, "--checkpoint", kept])

        result = run(limited(mpiexec, train, "--checkpoint-dir", folder, "--checkpoint-every", "5",
                             "--checkpoint-errors", "continue"))
        for step in (10, 15, 20):
            check_reports(result.stderr, step, kept, "warning")
        if "test accuracy" not in result.stdout:
            fail("the run did not train to its end")
        check_intact(folder, kept, before)

        # One checkpoint file, rewritten in place: the old content survives the failed write.
        single = os.path.join(work, "single.safetensors")
        run([mpiexec, "-n", "2", train, "--checkpoint", single, "--max-steps", "5"] + RUN)
        before = digest(single)
        result = run(limited(mpiexec, train, "--checkpoint", single),
                     expect=EXIT_CHECKPOINT_FAILED)
        check_reports(result.stderr, 10, single, "error")
        check_intact(work, single, before)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
