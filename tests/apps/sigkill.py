#!/usr/bin/env python3
"""A rank killed mid-run: train on 2 ranks with frequent checkpoints, SIGKILL the rank that
writes them once a checkpoint exists, and check that mpirun ends the job (non-zero, within
30 s), that the checkpoint still loads (predict), and that a resume from it on 1 rank ends
with the weights of an uninterrupted run (when numpy and safetensors are there to compare).

usage: sigkill.py MPIEXEC TRAIN PREDICT
"""
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time

JOB_END_LIMIT_S = 30


def children_named(parent, name):
    """PIDs of the processes named `name` whose parent is `parent`, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == parent and comm == name:
            found.append(int(entry))
    return found


def world_rank(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            for item in f.read().split(b"\0"):
                if item.startswith(b"OMPI_COMM_WORLD_RANK="):
                    return int(item.split(b"=", 1)[1])
    except OSError:
        pass
    return None


def checkpoint_metadata(path):
    """The __metadata__ of a safetensors file: 8-byte little-endian length, then JSON."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(length))["__metadata__"]


def run(command, timeout=120):
    print("$ " + " ".join(command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    sys.stdout.write(result.stdout + result.stderr)
    if result.returncode != 0:
        sys.exit("FAIL: exit code %d" % result.returncode)
    return result.stdout


def kill_writer_when_checkpointed(job, checkpoint):
    deadline = time.monotonic() + 60
    while not os.path.exists(checkpoint):
        if job.poll() is not None or time.monotonic() > deadline:
            sys.exit("FAIL: no checkpoint appeared (job exit code %s)" % job.poll())
        time.sleep(0.02)
    time.sleep(0.1)  # let another checkpoint begin: one may be in flight when the kill lands
    ranks = {world_rank(pid): pid for pid in children_named(job.pid, "train")}
    if 0 not in ranks:
        sys.exit("FAIL: found no rank-0 train process under mpirun (found %s)" % ranks)
    print("SIGKILL rank 0 (pid %d) of ranks %s" % (ranks[0], sorted(ranks)), flush=True)
    os.kill(ranks[0], signal.SIGKILL)


def compare_weights(resumed, reference, tolerance=1e-5):
    try:
        import numpy as np
        from safetensors.numpy import load_file
    except ImportError as e:
        print("not comparing the resumed weights: %s" % e)
        return
    a, b = load_file(resumed), load_file(reference)
    names = [name for name in b if not name.startswith("optim/")]
    difference = max(float(np.max(np.abs(a[n] - b[n]))) for n in names)
    scale = max(float(np.max(np.abs(b[n]))) for n in names)
    print("resumed vs uninterrupted: max difference %.3g, max weight %.3g" % (difference, scale))
    if not difference <= tolerance * scale:
        sys.exit("FAIL: the resumed run ended with other weights than an uninterrupted one")


def main():
    mpiexec, train, predict = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as work:
        checkpoint = os.path.join(work, "run.safetensors")
        # SGD: the comparison below then holds to float rounding (see world_size_equivalence).
        command = [mpiexec, "-n", "2", train, "--data", "synthetic:30000", "--epochs", "5",
                   "--optimizer", "sgd", "--checkpoint", checkpoint, "--checkpoint-every", "20"]
        print("$ " + " ".join(command), flush=True)
        job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            kill_writer_when_checkpointed(job, checkpoint)
            killed_at = time.monotonic()
            code = job.wait(timeout=JOB_END_LIMIT_S)
        except subprocess.TimeoutExpired:
            job.kill()
            sys.exit("FAIL: mpirun still runs %d s after a rank was killed" % JOB_END_LIMIT_S)
        print("mpirun exited with %d after %.1f s" % (code, time.monotonic() - killed_at))
        if code == 0:
            sys.exit("FAIL: mpirun reported success although a rank was killed")
        run([predict, "--checkpoint", checkpoint])
        metadata = checkpoint_metadata(checkpoint)
        epoch = int(metadata["epoch"])
        position = json.loads(metadata["trainer_state"])["position_in_epoch"]
        print("checkpoint at step %s, epoch %d, sample %d" % (metadata["step"], epoch, position))
        # Finish the epoch in progress on one rank: a resume from a checkpoint of another
        # world size, usually mid-epoch.
        resumed = os.path.join(work, "resumed.safetensors")
        out = run([train, "--resume", checkpoint, "--epochs", str(epoch + 1),
                   "--checkpoint", resumed])
        if "test accuracy" not in out:
            sys.exit("FAIL: the resumed run printed no test accuracy")
        reference = os.path.join(work, "reference.safetensors")
        run([train, "--data", "synthetic:30000", "--epochs", str(epoch + 1), "--optimizer", "sgd",
             "--checkpoint", reference])
        compare_weights(resumed, reference)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
