#!/usr/bin/env python3
"""Corrupt checkpoints never crash a program: `--resume auto` skips every torn or corrupt
ckpt-<step>.safetensors with a warning naming it and resumes from the newest valid one; the
same files given by path to train (--resume) or predict end with exit code 2 and a message
naming the file; a folder holding only corrupt checkpoints is an error (exit 2), not a silent
fresh start. Corruptions: truncated by one byte, zero length, one flipped byte in the header
JSON, one in the header length, one in the tensor data, a copy whose name says another step.

usage: checkpoint_corrupt.py MPIEXEC TRAIN PREDICT
"""
import os
import shutil
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoint_support import EXIT_BAD_INPUT, fail, position, run  # noqa: E402


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ 0x04]))


def header_length(path):
    with open(path, "rb") as f:
        return struct.unpack("<Q", f.read(8))[0]


def truncate_one_byte(path):
    os.truncate(path, os.path.getsize(path) - 1)


def zero_length(path):
    os.truncate(path, 0)


def flip_header_json(path):
    flip(path, 8 + header_length(path) // 2)


def flip_header_length(path):
    flip(path, 1)


def flip_tensor_data(path):
    flip(path, os.path.getsize(path) - 3)


CORRUPTIONS = {10: truncate_one_byte, 9: zero_length, 8: flip_header_json,
               7: flip_header_length, 6: flip_tensor_data}


def corrupt_folder(folder):
    """ckpt-3 valid; ckpt-6 .. ckpt-10 corrupt (copies of ckpt-6, each damaged its way);
    ckpt-11 an intact copy of ckpt-6 (its name says another step)."""
    source = os.path.join(folder, "ckpt-6.safetensors")
    for step, damage in sorted(CORRUPTIONS.items(), reverse=True):
        path = os.path.join(folder, "ckpt-%d.safetensors" % step)
        if step != 6:
            shutil.copy(source, path)
    shutil.copy(source, os.path.join(folder, "ckpt-11.safetensors"))
    for step, damage in CORRUPTIONS.items():
        damage(os.path.join(folder, "ckpt-%d.safetensors" % step))


def main():
    mpiexec, train, predict = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as work:
        folder = os.path.join(work, "run")
        run([mpiexec, "-n", "2", train, "--data", "synthetic:1200", "--batch-size", "100",
             "--checkpoint-dir", folder, "--checkpoint-every", "3", "--keep-checkpoints", "3",
             "--max-steps", "6"])
        corrupt_folder(folder)

        # Only corrupt files: an error naming the folder, not a fresh start.
        lost = os.path.join(work, "lost")
        os.mkdir(lost)
        for step in (7, 8):
            shutil.copy(os.path.join(folder, "ckpt-%d.safetensors" % step), lost)
        result = run([mpiexec, "-n", "2", train, "--checkpoint-dir", lost, "--resume", "auto"],
                     expect=EXIT_BAD_INPUT)
        if "no valid checkpoint in '%s'" % lost not in result.stderr:
            fail("the error does not say that %s holds no valid checkpoint" % lost)

        # Every corrupt file given by path: exit code 2 and a message naming it (one process:
        # the multi-rank error path is the same and is covered just above).
        for step in sorted(CORRUPTIONS):
            path = os.path.join(folder, "ckpt-%d.safetensors" % step)
            for command in ([train, "--resume", path], [predict, "--checkpoint", path]):
                result = run(command, expect=EXIT_BAD_INPUT)
                if "error: " not in result.stderr or path not in result.stderr:
                    fail("the error does not name %s" % path)
        run([predict, "--checkpoint", os.path.join(folder, "ckpt-11.safetensors")])

        # --resume auto: a warning for each, then ckpt-3.
        result = run([mpiexec, "-n", "2", train, "--checkpoint-dir", folder, "--resume", "auto",
                      "--checkpoint-every", "3", "--max-steps", "9"])
        for step in [11] + sorted(CORRUPTIONS, reverse=True):
            name = os.path.join(folder, "ckpt-%d.safetensors" % step)
            if "warning: skipping checkpoint '%s'" % name not in result.stderr:
                fail("no warning naming %s" % name)
        if "resuming '%s'" % os.path.join(folder, "ckpt-3.safetensors") not in result.stdout:
            fail("the run did not resume from ckpt-3")
        if position(os.path.join(folder, "ckpt-9.safetensors"))[0] != 9:
            fail("the resumed run did not write ckpt-9")
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
