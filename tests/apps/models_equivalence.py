#!/usr/bin/env python3
"""The built-in BatchNorm models train to the same bits on any number of ranks: resnet20 and
xception, each with BatchNorm in sync and in ghost mode, with augmentation (crop, flip) and a
warm-up + cosine schedule on, train two epochs on 1 rank and on 3 or 4 ranks to
byte-identical checkpoints (weights, BatchNorm running statistics, optimizer state). And a run
stopped mid-schedule on 2 ranks and resumed on 3 ends byte-identical to the straight run.

usage: models_equivalence.py MPIEXEC TRAIN
Exits 77 (skipped) when Python's numpy or safetensors is missing.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoint_support import compare, fail, position, require_numpy, run  # noqa: E402

STEPS = 10  # 2 epochs of 5 batches
COMMON = ["--data", "synthetic:400", "--batch-size", "80", "--epochs", "2", "--seed", "3",
          "--augment", "crop,flip", "--lr-schedule", "cosine", "--warmup-epochs", "1",
          "--optimizer", "sgd", "--lr", "0.05"]


def main():
    require_numpy()
    mpiexec, train = sys.argv[1:3]
    with tempfile.TemporaryDirectory() as work:
        def job(ranks, folder, *extra):
            run([mpiexec, "-n", str(ranks), train, "--checkpoint-dir",
                 os.path.join(work, folder)] + COMMON + list(extra), timeout=300)
            return os.path.join(work, folder, "ckpt-%d.safetensors" % STEPS)

        for model in ("resnet20", "xception"):
            for mode, ranks in (("sync", 4), ("ghost", 3)):
                options = ["--model", model, "--batch-norm", mode]
                one = job(1, "%s-%s-1" % (model, mode), *options)
                many = job(ranks, "%s-%s-%d" % (model, mode, ranks), *options)
                compare(many, one)
            # Stopped at step 3 (in the warm-up, mid-epoch) on 2 ranks, resumed on 3.
            options = ["--model", model]
            split = "%s-split" % model
            job(2, split, *options, "--max-steps", "3")
            stopped = os.path.join(work, split, "ckpt-3.safetensors")
            if position(stopped) != (3, 0, 240):
                fail("the stop checkpoint stands at %s, expected (3, 0, 240)" % (position(stopped),))
            resumed = job(3, split, *options, "--resume", "auto", "--max-steps", "0")
            compare(resumed, os.path.join(work, "%s-sync-1" % model, "ckpt-%d.safetensors" % STEPS))
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
