#!/usr/bin/env python3
"""train reads every form of --data: a folder of .npy files, a folder of plain IDX files,
npy:X.npy,Y.npy (last sixth held out) and synthetic:N, with the split sizes it reports.

usage: data_sources.py TRAIN
Exits 77 (skipped) when numpy is missing (it writes the .npy files).
"""
import os
import re
import struct
import subprocess
import sys
import tempfile

SKIP = 77


def write_idx(path, array):
    """IDX: zero, zero, type 0x08 (uint8), rank, big-endian dimensions, then the bytes."""
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, array.ndim))
        f.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        f.write(array.astype("uint8").tobytes())


def expect_split(train, data, samples, test):
    command = [train, "--data", data, "--epochs", "1", "--batch-size", "50"]
    print("$ " + " ".join(command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    sys.stdout.write(result.stdout + result.stderr)
    wanted = "train %d samples, test %d" % (samples, test)
    if result.returncode != 0 or wanted not in result.stdout:
        sys.exit("FAIL: expected exit code 0 and '%s'" % wanted)
    if not re.search(r"test accuracy \d\.\d{4}", result.stdout):
        sys.exit("FAIL: no test accuracy printed")


def main():
    try:
        import numpy as np
    except ImportError:
        print("SKIP: numpy is missing")
        return SKIP
    train = sys.argv[1]
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory() as work:
        npy_dir = os.path.join(work, "npy")
        os.mkdir(npy_dir)
        for split, n in (("train", 300), ("test", 60)):
            np.save(os.path.join(npy_dir, "x_%s.npy" % split),
                    rng.random((n, 1, 28, 28), dtype=np.float32))
            np.save(os.path.join(npy_dir, "y_%s.npy" % split), rng.integers(0, 10, n))
        expect_split(train, npy_dir, 300, 60)

        idx_dir = os.path.join(work, "idx")
        os.mkdir(idx_dir)
        for prefix, n in (("train", 240), ("t10k", 40)):
            write_idx(os.path.join(idx_dir, prefix + "-images-idx3-ubyte"),
                      rng.integers(0, 256, (n, 28, 28)))
            write_idx(os.path.join(idx_dir, prefix + "-labels-idx1-ubyte"),
                      rng.integers(0, 10, n))
        expect_split(train, idx_dir, 240, 40)
        expect_split(train, "fashion-mnist:" + idx_dir, 240, 40)

        pair = ",".join(os.path.join(npy_dir, name) for name in ("x_train.npy", "y_train.npy"))
        expect_split(train, "npy:" + pair, 250, 50)
        expect_split(train, "synthetic:600", 500, 100)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
