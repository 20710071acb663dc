#!/usr/bin/env python3
"""End to end on Fashion-MNIST over 2 ranks: train mlp for 2 epochs with a checkpoint and a
metrics log, check the test accuracy (>= 0.85) and the log, then predict from the checkpoint
and check that it reproduces the accuracy and writes probabilities [10000, 10].

usage: end_to_end.py MPIEXEC TRAIN PREDICT FASHION_MNIST_DIR
Exits 77 (skipped) when the data set is missing.
"""
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile

SKIP = 77
MIN_ACCURACY = 0.85
METRIC_KEYS = {"kind", "step", "epoch", "loss", "accuracy", "samples_per_s", "elapsed_s"}


def run(command, timeout):
    print("$ " + " ".join(command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.returncode != 0:
        sys.exit("FAIL: exit code %d" % result.returncode)
    return result.stdout


def check_metrics(path, epochs):
    records = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            record = json.loads(line)  # raises on a malformed line
            missing = METRIC_KEYS - set(record)
            if missing:
                sys.exit("FAIL: %s line %d lacks %s" % (path, number, sorted(missing)))
            records.append(record)
    kinds = [r["kind"] for r in records]
    if kinds.count("epoch") != epochs or "step" not in kinds:
        sys.exit("FAIL: %s holds kinds %s, expected %d epoch records and step records"
                 % (path, sorted(set(kinds)), epochs))
    if any(r["samples_per_s"] <= 0 for r in records if r["kind"] in ("step", "epoch")):
        sys.exit("FAIL: a record in %s has no positive samples_per_s" % path)
    print("metrics: %d records, epoch samples/s %s" % (
        len(records), [round(r["samples_per_s"]) for r in records if r["kind"] == "epoch"]))


def read_labels(data_dir):
    with gzip.open(os.path.join(data_dir, "t10k-labels-idx1-ubyte.gz")) as f:
        return list(f.read()[8:])


def check_probabilities(path, data_dir, accuracy_text):
    try:
        import numpy as np
    except ImportError:
        print("numpy is missing: the probabilities file is not checked")
        return
    p = np.load(path)
    if p.shape != (10000, 10) or p.dtype != np.float32:
        sys.exit("FAIL: %s is %s %s, expected float32 (10000, 10)" % (path, p.dtype, p.shape))
    sums = p.sum(axis=1, dtype=np.float64)
    if np.max(np.abs(sums - 1.0)) > 1e-5 or np.min(p) < 0:
        sys.exit("FAIL: rows of %s are no probability vectors (sums %g..%g)"
                 % (path, sums.min(), sums.max()))
    labels = np.array(read_labels(data_dir))
    accuracy = float(np.mean(np.argmax(p, axis=1) == labels))
    if "%.4f" % accuracy != accuracy_text:
        sys.exit("FAIL: argmax of %s gives accuracy %.4f, predict printed %s"
                 % (path, accuracy, accuracy_text))
    print("probabilities: shape %s, rows sum to 1, accuracy %.4f" % (p.shape, accuracy))


def main():
    mpiexec, train, predict, data_dir = sys.argv[1:5]
    if not os.path.exists(os.path.join(data_dir, "t10k-labels-idx1-ubyte.gz")):
        print("SKIP: Fashion-MNIST is not in %s" % data_dir)
        return SKIP
    data = "fashion-mnist:" + data_dir
    with tempfile.TemporaryDirectory() as work:
        checkpoint = os.path.join(work, "mlp.safetensors")
        metrics = os.path.join(work, "metrics.jsonl")
        probabilities = os.path.join(work, "probabilities.npy")
        out = run([mpiexec, "-n", "2", train, "--model", "mlp", "--data", data, "--epochs", "2",
                   "--checkpoint", checkpoint, "--metrics", metrics], timeout=240)
        trained = re.search(r"test accuracy (\d\.\d{4})", out)
        if not trained or float(trained.group(1)) < MIN_ACCURACY:
            sys.exit("FAIL: expected 'test accuracy' >= %.2f in train's output" % MIN_ACCURACY)
        check_metrics(metrics, epochs=2)
        out = run([mpiexec, "-n", "2", predict, "--checkpoint", checkpoint, "--data", data,
                   "--output", probabilities], timeout=120)
        predicted = re.search(r"accuracy (\d\.\d{4}) on 10000 samples", out)
        if not predicted or predicted.group(1) != trained.group(1):
            sys.exit("FAIL: predict should print 'accuracy %s on 10000 samples'" % trained.group(1))
        check_probabilities(probabilities, data_dir, predicted.group(1))
    print("PASS: test accuracy %s, reproduced by predict" % trained.group(1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
