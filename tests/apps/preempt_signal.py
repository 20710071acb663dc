#!/usr/bin/env python3
"""Preemption: a SIGTERM reaching the ranks (as Slurm's srun delivers it) makes every rank stop
at the same step, write a checkpoint there and exit with code 4 within a few seconds; `--resume
auto` then ends with weights and optimizer state byte-identical to an uninterrupted run's.
SIGUSR1 to mpirun (forwarded to the ranks; Slurm's usual warning signal) does the same, and so
does SIGINT to a lone process (Ctrl-C). SIGTERM to mpirun ends the job within a few seconds
(Open MPI forwards it, then kills the ranks a second later and exits 1 itself). A second
signal ends a rank at once, by that signal.

usage: preempt_signal.py MPIEXEC TRAIN
Exits 77 (skipped) when Python's numpy or safetensors is missing.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoint_support import (EXIT_PREEMPTED, checkpoints, compare, fail, rank_pids,  # noqa: E402
                                require_numpy, run, wait_for_exit, wait_for_step)

JOB_END_LIMIT_S = 10
STEPS = 150  # at 50 rows a step, 100 steps an epoch: the stop usually falls mid-epoch
COMMON = ["--data", "synthetic:6000", "--batch-size", "50", "--seed", "11", "--log-every", "1"]
RUN = COMMON + ["--epochs", "2", "--max-steps", str(STEPS)]
LONG_RUN = COMMON + ["--epochs", "100"]  # cannot end by itself before the signals land


def start(command, work, name):
    """Starts a training job with a metrics log; returns (job, metrics path)."""
    metrics = os.path.join(work, name + ".jsonl")
    command = command + ["--metrics", metrics]
    print("$ " + " ".join(command), flush=True)
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           errors="replace")
    return job, metrics


def preempted_step(output, signal_name):
    """The step a run says it stopped at after `signal_name`."""
    found = re.search(r"preempted by %s \(received by rank \d+\): stopped at step (\d+)"
                      % signal_name, output)
    if not found:
        fail("the job did not report a stop after %s" % signal_name)
    return int(found.group(1))


def expect_preempted(job, folder, signal_name):
    code, elapsed, output = wait_for_exit(job, JOB_END_LIMIT_S)
    if code != EXIT_PREEMPTED:
        fail("exit code %d after %s, expected %d" % (code, signal_name, EXIT_PREEMPTED))
    step = preempted_step(output, signal_name)
    if max(checkpoints(folder)) != step:
        fail("the newest checkpoint is of step %d, the stop was at step %d"
             % (max(checkpoints(folder)), step))
    return step


def main():
    require_numpy()
    mpiexec, train = sys.argv[1:3]
    mpi = [mpiexec, "-n", "2", train]
    with tempfile.TemporaryDirectory() as work:
        reference = os.path.join(work, "reference")
        run(mpi + ["--checkpoint-dir", reference] + RUN)

        # SIGTERM to every rank, then --resume auto to the end.
        folder = os.path.join(work, "term")
        job, metrics = start(mpi + ["--checkpoint-dir", folder] + RUN, work, "term")
        pids = rank_pids(job, "train", 2)
        wait_for_step(job, metrics, 3)
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        expect_preempted(job, folder, "SIGTERM")
        run(mpi + ["--checkpoint-dir", folder, "--resume", "auto"])
        compare(checkpoints(folder)[STEPS], checkpoints(reference)[STEPS])

        # SIGUSR1 to mpirun, which forwards it.
        folder = os.path.join(work, "usr1")
        job, metrics = start(mpi + ["--checkpoint-dir", folder] + LONG_RUN, work, "usr1")
        wait_for_step(job, metrics, 3)
        job.send_signal(signal.SIGUSR1)
        expect_preempted(job, folder, "SIGUSR1")

        # SIGINT to a lone process.
        folder = os.path.join(work, "int")
        job, metrics = start([train, "--checkpoint-dir", folder] + LONG_RUN, work, "int")
        wait_for_step(job, metrics, 3)
        job.send_signal(signal.SIGINT)
        expect_preempted(job, folder, "SIGINT")

        # SIGTERM to mpirun: Open MPI's own shutdown, within a few seconds, never a hang.
        folder = os.path.join(work, "mpirun")
        job, metrics = start(mpi + ["--checkpoint-dir", folder] + LONG_RUN, work, "mpirun")
        wait_for_step(job, metrics, 3)
        job.send_signal(signal.SIGTERM)
        code, _, _ = wait_for_exit(job, JOB_END_LIMIT_S)
        if code == 0:
            fail("mpirun reported success after SIGTERM")

        # Two signals: the second ends the rank at once, by the signal.
        folder = os.path.join(work, "twice")
        job, metrics = start(mpi + ["--checkpoint-dir", folder] + LONG_RUN, work, "twice")
        pids = rank_pids(job, "train", 2)
        wait_for_step(job, metrics, 3)
        os.kill(pids[0], signal.SIGTERM)
        os.kill(pids[0], signal.SIGINT)
        code, _, _ = wait_for_exit(job, JOB_END_LIMIT_S)
        if code not in (128 + signal.SIGINT, 128 + signal.SIGTERM):
            fail("exit code %d after two signals, expected death by SIGINT or SIGTERM (%d, %d)"
                 % (code, 128 + signal.SIGINT, 128 + signal.SIGTERM))
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
