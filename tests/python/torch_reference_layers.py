#!/usr/bin/env python3
"""Checks a Lockstep model against the same model built in PyTorch: forward output, input
gradient and parameter gradients of the loss sum(output).

usage: torch_reference_layers.py WEIGHTS EXPECTED

WEIGHTS is a Lockstep weights file (io::save_weights): the parameters under their names and
the model spec in the metadata entry "model_spec". The spec's layers (a chain) become a
torch.nn.Sequential of the equivalent modules, and the weights are loaded into it with
load_state_dict(strict=True), so every name and shape must be PyTorch's exactly:
  DepthwiseConv2D        Conv2d(C, C*m, k, groups=C)            i.weight, i.bias
  SeparableConv2D        Sequential(depthwise=Conv2d(C, C*m, k, groups=C, bias=False),
                                    pointwise=Conv2d(C*m, F, 1))
                                                                 i.depthwise.weight,
                                                                 i.pointwise.weight/.bias
  GlobalAveragePooling2D Sequential(AdaptiveAvgPool2d(1), Flatten())
  LayerNorm              LayerNorm(per-sample shape, eps, elementwise_affine)
and Conv2D, Dense, Flatten, pooling and activations as PyTorch has them.
EXPECTED holds what Lockstep computed: "input", "output", "input_grad" and "grad/<name>" for
every parameter. Each must match PyTorch's float32 result within 1e-5 of the larger of 1 and
the tensor's largest magnitude.

Reads safetensors with the standard library and torch alone. Prints every comparison; exits 0
when all match, 1 when one does not, 2 when the arguments or files cannot be used.
"""
import collections
import json
import struct
import sys

import torch
from torch import nn

TOLERANCE = 1e-5


class UsageError(Exception):
    pass


def read_safetensors(path):
    """(tensors by name, metadata) of an F32 safetensors file."""
    with open(path, "rb") as handle:
        data = handle.read()
    if len(data) < 8:
        raise UsageError("%s: shorter than a safetensors header" % path)
    (header_size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_size].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    body = data[8 + header_size:]
    tensors = {}
    for name, entry in header.items():
        if entry["dtype"] != "F32":
            raise UsageError("%s: tensor %s has dtype %s, expected F32" % (path, name, entry["dtype"]))
        begin, end = entry["data_offsets"]
        values = torch.frombuffer(bytearray(body[begin:end]), dtype=torch.float32) if end > begin \
            else torch.zeros(0, dtype=torch.float32)
        tensors[name] = values.reshape(entry["shape"]).clone()
    return tensors, metadata


def pair(value):
    return tuple(value) if isinstance(value, list) else (value, value)


def conv_padding(layer, kernel):
    padding = layer.get("padding", "valid")
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        return ((kernel[0] - 1) // 2, (kernel[1] - 1) // 2)
    return pair(padding)


def make_module(layer, shape):
    """The PyTorch module of one spec entry that receives per-sample `shape`."""
    kind = layer["type"]
    if "inputs" in layer:
        raise UsageError("layer graphs are not supported here: %s" % json.dumps(layer))
    if kind in ("DepthwiseConv2D", "SeparableConv2D", "Conv2D"):
        kernel = pair(layer["kernel_size"])
        stride = pair(layer.get("strides", 1))
        padding = conv_padding(layer, kernel)
        bias = layer.get("use_bias", True)
        channels = shape[0]
        if kind == "Conv2D":
            return nn.Conv2d(channels, layer["filters"], kernel, stride, padding, bias=bias)
        depth = channels * layer.get("depth_multiplier", 1)
        if kind == "DepthwiseConv2D":
            return nn.Conv2d(channels, depth, kernel, stride, padding, groups=channels, bias=bias)
        return nn.Sequential(collections.OrderedDict([
            ("depthwise", nn.Conv2d(channels, depth, kernel, stride, padding, groups=channels,
                                    bias=False)),
            ("pointwise", nn.Conv2d(depth, layer["filters"], 1, bias=bias)),
        ]))
    if kind == "GlobalAveragePooling2D":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if kind == "LayerNorm":
        return nn.LayerNorm(list(shape), eps=layer.get("eps", 1e-5),
                            elementwise_affine=layer.get("elementwise_affine", True))
    if kind == "Dense":
        return nn.Linear(shape[0], layer["units"], bias=layer.get("use_bias", True))
    if kind in ("MaxPool2D", "AvgPool2D"):
        pool = pair(layer.get("pool_size", 2))
        stride = pair(layer.get("strides", pool))
        return (nn.MaxPool2d if kind == "MaxPool2D" else nn.AvgPool2d)(pool, stride)
    simple = {"Flatten": nn.Flatten, "ReLU": nn.ReLU, "Tanh": nn.Tanh, "Sigmoid": nn.Sigmoid,
              "GELU": nn.GELU}
    if kind in simple:
        return simple[kind]()
    raise UsageError("no PyTorch equivalent here for layer type %s" % kind)


def build_model(spec):
    shape = list(spec["input_shape"])
    modules = []
    for layer in spec["layers"]:
        module = make_module(layer, shape)
        with torch.no_grad():
            shape = list(module(torch.zeros([1] + shape)).shape[1:])
        modules.append(module)
    return nn.Sequential(*modules)


def compare(what, actual, expected, failures):
    if list(actual.shape) != list(expected.shape):
        failures.append("%s has shape %s, expected %s" % (what, list(actual.shape),
                                                           list(expected.shape)))
        print("%-28s shape %s vs %s MISMATCH" % (what, list(actual.shape), list(expected.shape)))
        return
    scale = max(1.0, float(expected.abs().max())) if expected.numel() else 1.0
    difference = float((actual - expected).abs().max()) if expected.numel() else 0.0
    ok = difference <= TOLERANCE * scale
    print("%-28s max |torch - lockstep| %.3g (scale %.3g) %s" % (what, difference, scale,
                                                                  "ok" if ok else "MISMATCH"))
    if not ok:
        failures.append("%s differs by %.3g (allowed %.3g)" % (what, difference, TOLERANCE * scale))


def main(argv):
    if len(argv) != 3:
        raise UsageError("usage: torch_reference_layers.py WEIGHTS EXPECTED")
    weights, metadata = read_safetensors(argv[1])
    expected, _ = read_safetensors(argv[2])
    if "model_spec" not in metadata:
        raise UsageError("%s has no model_spec in its metadata" % argv[1])
    torch.manual_seed(0)
    model = build_model(json.loads(metadata["model_spec"]))
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        print("the weights do not fit the PyTorch model: %s" % error)
        return 1
    print("torch %s; parameters: %s" % (torch.__version__, ", ".join(sorted(weights))))

    x = expected["input"].clone().requires_grad_(True)
    output = model(x)
    output.sum().backward()
    failures = []
    compare("output", output.detach(), expected["output"], failures)
    compare("input_grad", x.grad, expected["input_grad"], failures)
    for name, parameter in model.named_parameters():
        key = "grad/" + name
        if key not in expected:
            failures.append("no gradient %s in %s" % (key, argv[2]))
            continue
        compare(key, parameter.grad, expected[key], failures)
    for failure in failures:
        print("FAILED: %s" % failure)
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (UsageError, OSError, KeyError, ValueError) as error:
        print("error: %s" % error)
        sys.exit(2)
