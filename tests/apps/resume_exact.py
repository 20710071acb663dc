#!/usr/bin/env python3
"""Exact resume: training 20 steps straight and training 7 (or 10) steps, stopping, then
resuming to step 20 end with byte-identical weights AND optimizer state (every tensor of the
final checkpoint), on the same number of ranks; resuming on another number of ranks
(2 -> 3, 3 -> 1) agrees within 1e-5 (in fact to the byte: the engine is world-size
invariant). The model has Dropout (masks keyed by seed, step and sample) and trains with Adam
(moments and step count in the optimizer state), so the step counter, the data order and the
optimizer state must all come back. A resume with another --micro-batch runs, with a warning.

usage: resume_exact.py MPIEXEC TRAIN
Exits 77 (skipped) when Python's numpy or safetensors is missing.
"""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoint_support import EXIT_OK, compare, fail, position, require_numpy, run  # noqa: E402

TOLERANCE = 1e-5
SPEC = {"name": "dropout_mlp", "input_shape": [1, 28, 28],
        "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 32}, {"type": "ReLU"},
                   {"type": "Dropout", "rate": 0.3}, {"type": "Dense", "units": 10}]}


def main():
    require_numpy()
    mpiexec, train = sys.argv[1:3]
    with tempfile.TemporaryDirectory() as work:
        spec = os.path.join(work, "spec.json")
        with open(spec, "w") as f:
            json.dump(SPEC, f)
        run_args = ["--model", spec, "--data", "synthetic:1200", "--batch-size", "100",
                    "--epochs", "2", "--optimizer", "adam", "--seed", "5"]

        def job(ranks, folder, *extra, expect=EXIT_OK):
            return run([mpiexec, "-n", str(ranks), train, "--checkpoint-dir",
                        os.path.join(work, folder)] + list(extra), expect=expect)

        def final(folder):
            return os.path.join(work, folder, "ckpt-20.safetensors")

        job(2, "straight2", *run_args)
        job(1, "straight1", *run_args)

        # 7 steps on 2 ranks (mid-epoch), then the rest on 2 ranks: every byte the same.
        job(2, "split2", *run_args, "--max-steps", "7")
        stopped = os.path.join(work, "split2", "ckpt-7.safetensors")
        if position(stopped) != (7, 0, 700):
            fail("the stop checkpoint stands at %s, expected (7, 0, 700)" % (position(stopped),))
        os.makedirs(os.path.join(work, "split2to3"))
        shutil.copy(stopped, os.path.join(work, "split2to3", "from-2-ranks.safetensors"))
        job(2, "split2", "--resume", "auto", "--max-steps", "0")
        compare(final("split2"), final("straight2"))

        # The same stop resumed on 3 ranks, by path.
        job(3, "split2to3", "--max-steps", "0", "--resume",
            os.path.join(work, "split2to3", "from-2-ranks.safetensors"))
        compare(final("split2to3"), final("straight2"), TOLERANCE)

        # 10 steps (an epoch boundary) on 3 ranks, the rest on 1.
        job(3, "split3to1", *run_args, "--max-steps", "10")
        job(1, "split3to1", "--resume", "auto", "--max-steps", "0")
        compare(final("split3to1"), final("straight1"), TOLERANCE)

        # Another micro-batch size on resume: allowed, announced, not bitwise.
        shutil.copytree(os.path.join(work, "split2to3"), os.path.join(work, "micro"))
        for name in os.listdir(os.path.join(work, "micro")):
            if name.startswith("ckpt-"):
                os.remove(os.path.join(work, "micro", name))
        result = job(2, "micro", "--resume",
                     os.path.join(work, "micro", "from-2-ranks.safetensors"), "--micro-batch", "8",
                     "--max-steps", "0")
        if "--micro-batch 8 differs from the checkpoint's 16" not in result.stderr:
            fail("no warning about the changed --micro-batch")
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
