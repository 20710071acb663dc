#!/usr/bin/env python3
"""Training on 3 ranks gives the weights of training on 1 rank (same global batch, seed and
data, default optimizer): max |w3 - w1| / max |w1| over every parameter within 1e-5 — in
fact zero, as fixed micro-batches and gradient sums in double make the arithmetic the same.
Checked for mlp (a whole epoch) and cnn (10 steps: convolution and pooling kernels too).

usage: world_size_equivalence.py MPIEXEC TRAIN
Exits 77 (skipped) when Python's safetensors or numpy is missing.
"""
import os
import subprocess
import sys
import tempfile

SKIP = 77
TOLERANCE = 1e-5


# Each model and the options that keep its run short.
MODELS = {"mlp": [], "cnn": ["--max-steps", "10"]}


def train(mpiexec, program, ranks, checkpoint, model):
    command = [mpiexec, "-n", str(ranks), program, "--data", "synthetic:3000", "--epochs", "1",
               "--batch-size", "100", "--seed", "7", "--checkpoint", checkpoint,
               "--model", model] + MODELS[model]
    print("$ " + " ".join(command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        sys.exit("FAIL: exit code %d\n%s%s" % (result.returncode, result.stdout, result.stderr))


def main():
    try:
        import numpy as np
        from safetensors.numpy import load_file
    except ImportError as e:
        print("SKIP: %s (pip install numpy safetensors)" % e)
        return SKIP
    mpiexec, program = sys.argv[1:3]
    for model in MODELS:
        with tempfile.TemporaryDirectory() as work:
            paths = {n: os.path.join(work, "np%d.safetensors" % n) for n in (1, 3)}
            for ranks, path in paths.items():
                train(mpiexec, program, ranks, path, model)
            one, three = load_file(paths[1]), load_file(paths[3])
        names = sorted(name for name in one if not name.startswith("optim/"))
        if sorted(name for name in three if not name.startswith("optim/")) != names:
            sys.exit("FAIL: %s: the checkpoints hold different parameters" % model)
        difference = max(float(np.max(np.abs(one[n] - three[n]))) for n in names)
        scale = max(float(np.max(np.abs(one[n]))) for n in names)
        print("%s: max |w3 - w1| = %.3g, max |w1| = %.3g, ratio %.3g (tolerance %g)"
              % (model, difference, scale, difference / scale, TOLERANCE))
        if not difference <= TOLERANCE * scale:
            sys.exit("FAIL: %s: 3 ranks drifted from 1 rank" % model)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
