#!/usr/bin/env python3
"""Writes tiny files with the reference safetensors writer and prints their bytes as C++
string literals; tests/unit/io/safetensors_reference_test.cpp embeds this output, so the
reader is checked against files Lockstep did not write itself."""
import os
import string
import sys
import tempfile

import numpy as np
from safetensors.numpy import save_file

HEX_DIGITS = set(string.hexdigits)


def reference_files():
    """Name -> (tensors, metadata) of each file to generate."""
    return {
        "kReferenceWithMetadata": (
            {
                "b": np.array([1.5, -2.0], dtype=np.float32),
                "a": np.arange(6, dtype=np.float32).reshape(2, 3),
            },
            {"source": "reference"},
        ),
        "kReferenceScalarAndEmpty": (
            {
                "scalar": np.array(3.25, dtype=np.float32),
                "empty": np.zeros((0, 3), dtype=np.float32),
            },
            None,
        ),
        "kReferenceF64AndF16": (
            {
                "x": np.array([1.0], dtype=np.float64),
                "h": np.array([1.0, 2.0], dtype=np.float16),
            },
            None,
        ),
    }


def cpp_literal(data, width=88):
    """The bytes as adjacent C++ string literals; a hex escape never runs into a hex digit."""
    lines, line, previous_hex = [], "", False
    for byte in data:
        char = chr(byte)
        if char in "\"\\":
            piece, previous_hex = "\\" + char, False
        elif char in string.printable and char not in "\t\n\r\x0b\x0c":
            piece = ('" "' if previous_hex and char in HEX_DIGITS else "") + char
            previous_hex = False
        else:
            piece, previous_hex = "\\x%02x" % byte, True
        if len(line) + len(piece) > width:
            lines.append(line)
            line, piece = "", piece.removeprefix('" "')
        line += piece
    lines.append(line)
    return "\n".join('    "%s"' % text for text in lines)


def main():
    with tempfile.TemporaryDirectory() as folder:
        for name, (tensors, metadata) in reference_files().items():
            path = os.path.join(folder, name + ".safetensors")
            save_file(tensors, path, metadata=metadata)
            with open(path, "rb") as handle:
                data = handle.read()
            sys.stdout.write("const std::string %s =\n%s\n    \"\"s;\n\n" % (name, cpp_literal(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
