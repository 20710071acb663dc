#!/usr/bin/env python3
"""Checks a Lockstep checkpoint with the reference safetensors reader, as NumPy and PyTorch
users would load it.

usage: check_checkpoint.py CHECKPOINT EXPECTED_JSON

EXPECTED_JSON is an object with
  "parameters": {name: shape}  the exact set of tensors outside the optimizer state,
  "metadata":   {key: value}   (optional) metadata entries that must hold these strings,
  "sums":       {name: float}  (optional) the sum of each named tensor's elements,
  "optimizer_prefix": "optim/" (optional) the prefix of optimizer state tensors.
Prints every check; exits 1 when one fails, 2 when the arguments are malformed.
"""
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


def check_tensors(tensors, expected, prefix, failures):
    parameters = {name: array for name, array in tensors.items() if not name.startswith(prefix)}
    wanted = expected["parameters"]
    for name in sorted(set(wanted) - set(parameters)):
        failures.append("missing parameter %s" % name)
    for name in sorted(set(parameters) - set(wanted)):
        failures.append("unexpected parameter %s %s" % (name, list(parameters[name].shape)))
    for name, array in sorted(tensors.items()):
        if array.dtype != np.float32:
            failures.append("%s has dtype %s, expected float32" % (name, array.dtype))
        if name in wanted:
            ok = list(array.shape) == list(wanted[name])
            print("shape %-24s %-16s %s" % (name, list(array.shape), "ok" if ok else "MISMATCH"))
            if not ok:
                failures.append("%s has shape %s, expected %s" % (name, list(array.shape), wanted[name]))
    print("optimizer state tensors: %d" % sum(1 for name in tensors if name.startswith(prefix)))


def check_sums(tensors, sums, failures):
    for name, expected_sum in sorted(sums.items()):
        if name not in tensors:
            failures.append("no tensor %s to sum" % name)
            continue
        actual = float(np.sum(tensors[name], dtype=np.float64))
        ok = abs(actual - expected_sum) <= 1e-4 * max(1.0, abs(expected_sum))
        print("sum   %-24s %.6g (expected %.6g) %s" % (name, actual, expected_sum, "ok" if ok else "MISMATCH"))
        if not ok:
            failures.append("%s sums to %r, expected %r" % (name, actual, expected_sum))


def check_metadata(path, wanted, failures):
    with safe_open(path, framework="np") as handle:
        metadata = handle.metadata() or {}
    for key, value in sorted(wanted.items()):
        ok = metadata.get(key) == value
        print("meta  %-24s %r %s" % (key, metadata.get(key), "ok" if ok else "MISMATCH"))
        if not ok:
            failures.append("metadata %s is %r, expected %r" % (key, metadata.get(key), value))


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    path = argv[1]
    try:
        expected = json.loads(argv[2])
        expected["parameters"]
    except (ValueError, KeyError, TypeError) as error:
        print("malformed EXPECTED_JSON: %s" % error, file=sys.stderr)
        return 2
    tensors = load_file(path)
    failures = []
    check_tensors(tensors, expected, expected.get("optimizer_prefix", "optim/"), failures)
    check_sums(tensors, expected.get("sums", {}), failures)
    check_metadata(path, expected.get("metadata", {}), failures)
    for failure in failures:
        print("mismatch: " + failure)
    print("%s: %d tensors, %s" % (path, len(tensors), "ok" if not failures else "%d failures" % len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
