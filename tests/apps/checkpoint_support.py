#!/usr/bin/env python3
"""Helpers of the checkpoint, resume and preemption tests: running the programs with a time
limit, finding the ranks under mpirun, reading safetensors files, comparing checkpoints
tensor by tensor. Imported by checkpoint_*.py, resume_*.py and preempt_*.py.
"""
import json
import os
import struct
import subprocess
import sys
import time

SKIP = 77

# Exit codes of train (runtime.h; README "Reliability").
EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_PREEMPTED, EXIT_CHECKPOINT_FAILED = 0, 1, 2, 4, 5


def fail(message):
    sys.exit("FAIL: " + message)


def require_numpy():
    """numpy and safetensors.numpy, or exit 77 (skipped) when they are missing."""
    try:
        import numpy
        from safetensors.numpy import load_file
    except ImportError as e:
        print("SKIP: %s (pip install numpy safetensors)" % e)
        sys.exit(SKIP)
    return numpy, load_file


def run(command, expect=EXIT_OK, timeout=120, env=None):
    """Runs `command`, prints its output, fails unless it exits with `expect` (None: any)."""
    print("$ " + " ".join(command), flush=True)
    try:
        # errors="replace": a message quoting a corrupt file's bytes is still readable.
        result = subprocess.run(command, capture_output=True, text=True, errors="replace",
                                timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        fail("still running after %d s: %s" % (timeout, " ".join(command)))
    sys.stdout.write(result.stdout + result.stderr)
    if expect is not None and result.returncode != expect:
        fail("exit code %d, expected %d" % (result.returncode, expect))
    return result


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


def rank_pids(job, name, ranks, limit_s=30):
    """The PIDs of the `ranks` processes named `name` that mpirun (`job`) started."""
    deadline = time.monotonic() + limit_s
    while True:
        pids = children_named(job.pid, name)
        if len(pids) == ranks:
            return pids
        if job.poll() is not None or time.monotonic() > deadline:
            fail("found %d of %d %s processes under mpirun" % (len(pids), ranks, name))
        time.sleep(0.02)


def last_metrics_step(path):
    """The step of the last complete line of a metrics log, or 0."""
    try:
        with open(path) as f:
            lines = [line for line in f.read().split("\n") if line.strip()]
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError):
            continue
    return 0


def wait_for_step(job, metrics, step, limit_s=60):
    """Waits until the metrics log shows `step`; fails if the job ends or time runs out."""
    deadline = time.monotonic() + limit_s
    while last_metrics_step(metrics) < step:
        if job.poll() is not None:
            fail("the job ended (exit code %d) before step %d" % (job.returncode, step))
        if time.monotonic() > deadline:
            fail("no step %d within %d s" % (step, limit_s))
        time.sleep(0.01)


def wait_for_exit(job, limit_s):
    """The job's exit code and how long it took to end; fails (killing it) past `limit_s`."""
    start = time.monotonic()
    try:
        code = job.wait(timeout=limit_s)
    except subprocess.TimeoutExpired:
        job.kill()
        job.wait()
        fail("the job still ran %d s later" % limit_s)
    elapsed = time.monotonic() - start
    output = job.stdout.read() if job.stdout else ""
    sys.stdout.write(output)
    print("job ended with exit code %d after %.1f s" % (code, elapsed), flush=True)
    return code, elapsed, output


def metadata(path):
    """The __metadata__ of a safetensors file: 8-byte little-endian length, then JSON."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(length)).get("__metadata__", {})


def position(path):
    """(step, epoch, position in epoch) of a checkpoint."""
    m = metadata(path)
    return int(m["step"]), int(m["epoch"]), json.loads(m["trainer_state"])["position_in_epoch"]


def checkpoints(folder):
    """{step: path} of the ckpt-<step>.safetensors files of `folder`."""
    found = {}
    for name in os.listdir(folder):
        if name.startswith("ckpt-") and name.endswith(".safetensors"):
            found[int(name[len("ckpt-"):-len(".safetensors")])] = os.path.join(folder, name)
    return found


def compare(actual, expected, tolerance=0.0):
    """Compares every tensor (weights and optimizer state) and where the run stands; returns
    the largest |a - b| / max |b| over the tensors. Fails beyond `tolerance` (0: bytes)."""
    np, load_file = require_numpy()
    a, b = load_file(actual), load_file(expected)
    if sorted(a) != sorted(b):
        fail("%s and %s hold different tensors: %s vs %s" % (actual, expected, sorted(a), sorted(b)))
    if position(actual) != position(expected):
        fail("%s stands at (step, epoch, sample) %s, %s at %s"
             % (actual, position(actual), expected, position(expected)))
    worst = 0.0
    identical = True
    for name in sorted(b):
        if a[name].dtype != b[name].dtype or a[name].shape != b[name].shape:
            fail("tensor %s: %s %s vs %s %s" % (name, a[name].dtype, a[name].shape,
                                                  b[name].dtype, b[name].shape))
        identical = identical and a[name].tobytes() == b[name].tobytes()
        scale = max(float(np.max(np.abs(b[name]))) if b[name].size else 0.0, 1e-30)
        if b[name].size:
            worst = max(worst, float(np.max(np.abs(a[name] - b[name]))) / scale)
    print("%s vs %s: %d tensors, %s, max relative difference %.3g"
          % (os.path.basename(actual), os.path.basename(expected), len(b),
             "byte-identical" if identical else "NOT byte-identical", worst), flush=True)
    if tolerance == 0.0 and not identical:
        fail("%s differs from %s" % (actual, expected))
    if worst > tolerance:
        fail("%s differs from %s by %.3g (tolerance %g)" % (actual, expected, worst, tolerance))
    return worst
