#!/usr/bin/env python3
"""Checkpoint folders: --checkpoint-dir is created when missing and holds ckpt-<step>
files, of which the newest --keep-checkpoints (default 2) stay, older ones removed only once
a newer one is in place; --resume auto in an empty folder starts afresh and says so; options
that cannot work (--resume auto with nowhere to look, --checkpoint with --checkpoint-dir,
--keep-checkpoints 0, --checkpoint-errors other than stop/continue, --max-steps < 0,
--collective-timeout <= 0, for train and predict) end with exit code 2 before any training.

usage: checkpoint_dir.py TRAIN PREDICT
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoint_support import EXIT_BAD_INPUT, checkpoints, fail, position, run  # noqa: E402

RUN = ["--data", "synthetic:1200", "--batch-size", "100", "--epochs", "2",
       "--checkpoint-every", "3"]


def main():
    train, predict = sys.argv[1:3]
    with tempfile.TemporaryDirectory() as work:
        folder = os.path.join(work, "new", "run")  # two levels that do not exist yet
        result = run([train, "--checkpoint-dir", folder, "--resume", "auto"] + RUN)
        if "no checkpoint to resume from in '%s': starting afresh" % folder not in result.stdout:
            fail("--resume auto in an empty folder did not say it starts afresh")
        # Steps 3, 6, 9, 10 (epoch end), 12, 15, 18, 20: the newest two stay.
        if sorted(checkpoints(folder)) != [18, 20]:
            fail("kept %s, expected [18, 20]" % sorted(checkpoints(folder)))
        if sorted(os.listdir(folder)) != ["ckpt-18.safetensors", "ckpt-20.safetensors"]:
            fail("the folder holds more than checkpoints: %s" % sorted(os.listdir(folder)))
        for step, path in checkpoints(folder).items():
            if position(path)[0] != step:
                fail("%s holds step %d" % (path, position(path)[0]))

        three = os.path.join(work, "three")
        run([train, "--checkpoint-dir", three, "--keep-checkpoints", "3"] + RUN)
        if sorted(checkpoints(three)) != [15, 18, 20]:
            fail("kept %s, expected [15, 18, 20]" % sorted(checkpoints(three)))

        some_file = os.path.join(work, "file.safetensors")
        bad = [
            ([train, "--resume", "auto"], "--resume auto needs --checkpoint-dir"),
            ([train, "--checkpoint", some_file, "--checkpoint-dir", folder],
             "--checkpoint and --checkpoint-dir exclude each other"),
            ([train, "--checkpoint-dir", folder, "--keep-checkpoints", "0"],
             "--keep-checkpoints must be at least 1"),
            ([train, "--checkpoint-errors", "ignore"], "--checkpoint-errors must be stop or continue"),
            ([train, "--max-steps", "-1"], "--max-steps must be at least 0"),
            ([train, "--collective-timeout", "0"], "--collective-timeout must be a positive"),
            ([predict, "--checkpoint", checkpoints(folder)[20], "--collective-timeout", "-3"],
             "--collective-timeout must be a positive"),
            ([train, "--checkpoint-dir", os.path.join(some_file, "sub")] + RUN,
             "cannot be created"),
        ]
        with open(some_file, "w") as f:
            f.write("not a folder")
        for command, message in bad:
            result = run(command, expect=EXIT_BAD_INPUT)
            if message not in result.stderr:
                fail("the error does not say '%s'" % message)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
