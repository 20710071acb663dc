#!/usr/bin/env python3
"""Checks whole Lockstep models (graphs such as resnet20 and xception) and their training
steps against the same models and optimizers in PyTorch.

usage:
  torch_reference_models.py forward WEIGHTS EXPECTED
  torch_reference_models.py single-steps DIR STEPS
  torch_reference_models.py steps BATCHES START END

forward: WEIGHTS is a weights file (io::save_weights); EXPECTED holds "input" [N, ...] and
  "probabilities" [N, classes], the softmax of Lockstep's eval-mode output. PyTorch's must
  match within 1e-5 (max abs).
single-steps: DIR holds Lockstep's checkpoints ckpt-0.safetensors ... ckpt-STEPS.safetensors
  (after 0, 1, ... steps) and, for each step k from 1, step-k.safetensors: the step's batch
  ("inputs", "labels"), its mean loss ("loss") and the gradient of the summed loss that
  Lockstep computed ("grad/<parameter>"). From each checkpoint PyTorch takes step k on that
  batch, checked in two parts so that each comparison is well-conditioned:
    1. forward and backward (train mode: BatchNorm by the statistics of the whole batch):
       the loss, the BatchNorm running statistics of ckpt-k, and the gradient of the mean
       cross-entropy (Lockstep's summed gradient / batch size);
    2. the optimizer: PyTorch's optimizer, with the state of ckpt-(k-1), applied to
       Lockstep's gradient, must give the weights and the optimizer state of ckpt-k.
  Why split: a float32 gradient is only as exact as its rounding allows, and two rules
  amplify that. Adam's first update is lr * g / (|g| + eps) ~ lr * sign(g), so an element
  whose gradient is within rounding of zero moves by +lr or -lr depending on the last bit;
  and with ReLU or max-pooling, an activation within rounding of the kink passes its gradient
  in one implementation and not in the other (float32 PyTorch itself differs from float64
  PyTorch by up to 3e-2 in some gradients of one resnet20 step). So the gradient is compared
  on its own, within 1e-4 for smooth models and within KINK_TOLERANCE for models with ReLU or
  max-pooling, and the update from the same gradient within 1e-4.
steps: from START, PyTorch takes one step per batch of BATCHES ("inputs/0", "labels/0",
  "inputs/1", ...) and must end at END: every parameter and running statistic within 1e-4.
  Meaningful for smooth models at small learning rates only: with ReLU or max-pooling, or
  large steps, float32 training is chaotic and no two implementations stay together.

Relative differences are per tensor: max |torch - lockstep| / max |lockstep|.

PyTorch computes in float64 from Lockstep's float32 values, so its results are exact up to
float64 rounding and the tolerances bound Lockstep's own float32 rounding. The spec's layers
become one torch module per layer, registered under the layer's index, so parameter names
are Lockstep's ("3.weight", "7.depthwise.weight", "8.running_mean"); a layer reads the
outputs named in its "inputs" ("input" is the model's input), or the previous layer's.
Besides the layer types of torch_reference_layers.py (whose mapping this reuses):
  BatchNorm  BatchNorm2d / BatchNorm1d(C, eps, momentum)     i.weight, i.bias,
                                                              i.running_mean, i.running_var
  Add        the sum of its inputs
The loss is PyTorch's mean cross-entropy (Lockstep's sum, scaled by 1/batch in the step). The
optimizer is the checkpoint's, as torch.optim.SGD, Adam or AdamW with the stored
hyperparameters; Lockstep's state "optim/<param>.momentum" is SGD's momentum_buffer,
"optim/<param>.exp_avg" and ".exp_avg_sq" Adam's, "optim/step" the step count.

Reads safetensors with the standard library and torch alone. Prints every comparison; exits 0
when all match, 1 when one does not, 2 when the arguments or files cannot be used.
"""
import collections
import json
import os
import sys

import torch
from torch import nn
from torch.nn import functional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference_layers import UsageError, make_module, read_safetensors  # noqa: E402

FORWARD_TOLERANCE = 1e-5  # max abs difference of probabilities
TOLERANCE = 1e-4          # relative, per tensor
# Gradients of models with ReLU or max-pooling: see the module docstring. An activation
# within float32 rounding of a kink changes the gradients below it by up to a few percent
# (at most 5e-2 measured over 12 steps of resnet20 and xception); wrong wiring, layouts or
# formulas change them by far more.
KINK_TOLERANCE = 0.1
KINKED_LAYERS = ("ReLU", "MaxPool2D")
OPTIMIZER_PREFIX = "optim/"
TORCH_SLOT = {"momentum": "momentum_buffer", "exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq"}
DTYPE = torch.float64


class Mismatch(Exception):
    """Lockstep's file does not fit the PyTorch model: a failed check, not a usage error."""


class Add(nn.Module):
    def forward(self, *inputs):
        total = inputs[0]
        for x in inputs[1:]:
            total = total + x
        return total


def batch_norm(layer, shape):
    if layer.get("mode", "sync") != "sync":
        raise UsageError("BatchNorm mode %s has no PyTorch equivalent here" % layer["mode"])
    kind = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
    return kind(shape[0], eps=layer.get("eps", 1e-5), momentum=layer.get("momentum", 0.1))


class GraphModel(nn.Module):
    """A Lockstep model spec as a torch module: submodule "i" is layer i."""

    def __init__(self, spec):
        super().__init__()
        self.names = []   # layer i's name: its "name", or its index
        self.inputs = []  # the names of what feeds layer i
        shapes = {"input": list(spec["input_shape"])}
        previous = "input"
        for index, layer in enumerate(spec["layers"]):
            name = layer.get("name", str(index))
            inputs = layer.get("inputs", [previous])
            inputs = [inputs] if isinstance(inputs, str) else list(inputs)
            in_shapes = [shapes[i] for i in inputs]
            if layer["type"] == "Add":
                module = Add()
            elif layer["type"] == "BatchNorm":
                module = batch_norm(layer, in_shapes[0])
            else:
                plain = {k: v for k, v in layer.items() if k not in ("name", "inputs")}
                module = make_module(plain, in_shapes[0])
            module.eval()  # the shape probe must not touch running statistics
            with torch.no_grad():
                probe = module(*[torch.zeros([2] + s) for s in in_shapes])
            shapes[name] = list(probe.shape[1:])
            self.add_module(str(index), module)
            self.names.append(name)
            self.inputs.append(inputs)
            previous = name

    def forward(self, x):
        outputs = {"input": x}
        for index, module in enumerate(self.children()):
            outputs[self.names[index]] = module(*[outputs[i] for i in self.inputs[index]])
        return outputs[self.names[-1]]


def has_kinks(spec):
    return any(layer["type"] in KINKED_LAYERS for layer in spec["layers"])


def load_model(spec, tensors):
    """The model of `spec` in float64 holding the parameters and buffers among `tensors`
    (strict: every name and shape must be PyTorch's; num_batches_tracked, which Lockstep does
    not keep and BatchNorm with a momentum does not read, is set to 0)."""
    model = GraphModel(spec).to(DTYPE)
    state = {name: tensor for name, tensor in tensors.items()
             if not name.startswith(OPTIMIZER_PREFIX)}
    for name, buffer in model.named_buffers():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.zeros_like(buffer)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise Mismatch("the tensors do not fit the PyTorch model: %s" % error)
    return model


def make_optimizer(name, hyperparameters, parameters):
    h = hyperparameters
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=h["lr"], momentum=h["momentum"],
                               weight_decay=h["weight_decay"], nesterov=h["nesterov"])
    if name in ("adam", "adamw"):
        rule = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        return rule(parameters, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["epsilon"],
                    weight_decay=h["weight_decay"])
    raise UsageError("no PyTorch equivalent here for optimizer %s" % name)


class Run:
    """A Lockstep checkpoint in PyTorch: the model, its optimizer with the stored state, and
    the number of steps taken."""

    def __init__(self, path):
        tensors, metadata = read_safetensors(path)
        for key in ("model_spec", "optimizer", "optimizer_hyperparameters"):
            if key not in metadata:
                raise UsageError("%s has no %s in its metadata: not a Lockstep checkpoint"
                                 % (path, key))
        self.spec = json.loads(metadata["model_spec"])
        self.model = load_model(self.spec, tensors)
        name = metadata["optimizer"]
        self.optimizer = make_optimizer(name, json.loads(metadata["optimizer_hyperparameters"]),
                                        self.model.parameters())
        self.steps = int(tensors[OPTIMIZER_PREFIX + "step"].item())
        used = {OPTIMIZER_PREFIX + "step"}
        for parameter_name, parameter in self.model.named_parameters():
            state = {}
            for slot, torch_slot in TORCH_SLOT.items():
                key = "%s%s.%s" % (OPTIMIZER_PREFIX, parameter_name, slot)
                if key in tensors:
                    state[torch_slot] = tensors[key].to(DTYPE)
                    used.add(key)
            if state and name != "sgd":
                state["step"] = torch.tensor(float(self.steps))
            if state:
                self.optimizer.state[parameter] = state
        unused = [key for key in tensors if key.startswith(OPTIMIZER_PREFIX) and key not in used]
        if unused:
            raise Mismatch("%s: optimizer state %s fits no parameter" % (path, ", ".join(unused)))

    def forward_backward(self, inputs, labels):
        """Train-mode forward and backward of the mean cross-entropy; returns the loss."""
        self.model.train()
        self.optimizer.zero_grad()
        loss = functional.cross_entropy(self.model(inputs.to(DTYPE)), labels.long())
        loss.backward()
        return loss.detach()

    def step(self, inputs, labels):
        self.forward_backward(inputs, labels)
        self.optimizer.step()
        self.steps += 1

    def tensors(self):
        """Everything a Lockstep checkpoint holds, named as there."""
        tensors = collections.OrderedDict()
        for name, tensor in self.model.state_dict().items():
            if not name.endswith("num_batches_tracked"):
                tensors[name] = tensor.detach()
        tensors.update(self.optimizer_state())
        return tensors

    def optimizer_state(self):
        state = collections.OrderedDict()
        for name, parameter in self.model.named_parameters():
            for slot, torch_slot in TORCH_SLOT.items():
                if torch_slot in self.optimizer.state.get(parameter, {}):
                    state["%s%s.%s" % (OPTIMIZER_PREFIX, name, slot)] = \
                        self.optimizer.state[parameter][torch_slot]
        state[OPTIMIZER_PREFIX + "step"] = torch.tensor([float(self.steps)])
        return state


class Comparison:
    """Collects the comparisons of one check and prints each."""

    def __init__(self):
        self.failures = []
        self.worst = {}  # by kind of quantity

    def absolute(self, kind, what, actual, expected, tolerance):
        if self.same_shape(what, actual, expected):
            difference = float((actual.double() - expected.double()).abs().max())
            self.report(kind, what, "max |torch - lockstep| %.3g" % difference, difference,
                        tolerance)

    def relative(self, kind, what, actual, expected, tolerance):
        if not self.same_shape(what, actual, expected):
            return
        scale = float(expected.double().abs().max()) if expected.numel() else 0.0
        difference = float((actual.double() - expected.double()).abs().max()) \
            if expected.numel() else 0.0
        relative = difference / scale if scale > 0 else difference
        self.report(kind, what, "relative %.3g (max |lockstep| %.3g)" % (relative, scale),
                    relative, tolerance)

    def tensors(self, kind, what, torch_tensors, expected, names, tolerance):
        """The tensors called `names` of both sides, by name."""
        for name in names:
            if name not in expected or name not in torch_tensors:
                side = "Lockstep's file" if name not in expected else "PyTorch"
                self.fail("%s %s is missing in %s" % (what, name, side))
            else:
                self.relative(kind, "%s %s" % (what, name), torch_tensors[name], expected[name],
                              tolerance)

    def same_shape(self, what, actual, expected):
        if list(actual.shape) == list(expected.shape):
            return True
        self.fail("%s has shape %s, expected %s" % (what, list(actual.shape),
                                                     list(expected.shape)))
        return False

    def report(self, kind, what, text, value, tolerance):
        ok = value <= tolerance
        self.worst[kind] = max(self.worst.get(kind, 0.0), value)
        print("%-52s %s %s" % (what, text, "ok" if ok else "MISMATCH"))
        if not ok:
            self.failures.append("%s: %.3g exceeds %.3g" % (what, value, tolerance))

    def fail(self, text):
        print(text)
        self.failures.append(text)

    def finish(self):
        for failure in self.failures:
            print("FAILED: %s" % failure)
        for kind, value in sorted(self.worst.items()):
            print("worst %s: %.3g" % (kind, value))
        return 1 if self.failures else 0


def read_file(path, names):
    tensors, _ = read_safetensors(path)
    for name in names:
        if name not in tensors:
            raise UsageError("%s has no tensor %s" % (path, name))
    return tensors


def check_forward(weights_path, expected_path):
    """Eval-mode softmax of the loaded model (running statistics) against Lockstep's."""
    weights, metadata = read_safetensors(weights_path)
    expected = read_file(expected_path, ["input", "probabilities"])
    if "model_spec" not in metadata:
        raise UsageError("%s has no model_spec in its metadata" % weights_path)
    model = load_model(json.loads(metadata["model_spec"]), weights)
    model.eval()
    with torch.no_grad():  # in chunks: float64 activations of 1000 samples at once are slow
        probabilities = torch.cat([functional.softmax(model(chunk.to(DTYPE)), dim=1)
                                   for chunk in expected["input"].split(50)])
    comparison = Comparison()
    comparison.absolute("probabilities", "probabilities of %d samples"
                        % expected["input"].shape[0], probabilities, expected["probabilities"],
                        FORWARD_TOLERANCE)
    return comparison.finish()


def check_one_step(comparison, before_path, step_path, after_path):
    """Step k (files ckpt-(k-1), step-k, ckpt-k) in the two parts of the module docstring."""
    lockstep = read_file(step_path, ["inputs", "labels", "loss"])
    after = read_file(after_path, [OPTIMIZER_PREFIX + "step"])
    inputs, labels = lockstep["inputs"], lockstep["labels"]
    run = Run(before_path)
    what = "step %d" % (run.steps + 1)

    # 1. PyTorch's forward and backward.
    loss = run.forward_backward(inputs, labels)
    comparison.relative("loss", "%s loss" % what, loss.reshape(1), lockstep["loss"], TOLERANCE)
    buffers = [name for name, _ in run.model.named_buffers() if "running" in name]
    comparison.tensors("running statistics", what, run.tensors(), after, buffers, TOLERANCE)
    gradients = {"grad/" + name: p.grad for name, p in run.model.named_parameters()}
    lockstep_gradients = {name: tensor / inputs.shape[0] for name, tensor in lockstep.items()
                          if name.startswith("grad/")}
    tolerance = KINK_TOLERANCE if has_kinks(run.spec) else TOLERANCE
    comparison.tensors("gradients", what, gradients, lockstep_gradients,
                       sorted(set(gradients) | set(lockstep_gradients)), tolerance)

    # 2. PyTorch's optimizer on Lockstep's gradient.
    with torch.no_grad():
        for name, parameter in run.model.named_parameters():
            parameter.grad.copy_(lockstep_gradients["grad/" + name])
    run.optimizer.step()
    run.steps += 1
    names = [name for name, _ in run.model.named_parameters()] + \
        [name for name in after if name.startswith(OPTIMIZER_PREFIX)]
    comparison.tensors("weights and optimizer state", what, run.tensors(), after,
                       sorted(set(names) | set(run.optimizer_state())), TOLERANCE)


def check_single_steps(directory, steps):
    comparison = Comparison()
    for k in range(1, steps + 1):
        check_one_step(comparison, os.path.join(directory, "ckpt-%d.safetensors" % (k - 1)),
                       os.path.join(directory, "step-%d.safetensors" % k),
                       os.path.join(directory, "ckpt-%d.safetensors" % k))
    return comparison.finish()


def check_steps(batches_path, start_path, end_path):
    """Consecutive PyTorch steps from one checkpoint end at the later one."""
    batches, _ = read_safetensors(batches_path)
    count = sum(1 for name in batches if name.startswith("inputs/"))
    run = Run(start_path)
    for k in range(count):
        names = ["inputs/%d" % k, "labels/%d" % k]
        if any(name not in batches for name in names):
            raise UsageError("%s has no %s" % (batches_path, " or ".join(names)))
        run.step(batches[names[0]], batches[names[1]])
    expected, _ = read_safetensors(end_path)
    if int(expected[OPTIMIZER_PREFIX + "step"].item()) != run.steps:
        raise UsageError("%s is at step %d, %s plus %d batches at step %d" % (
            end_path, int(expected[OPTIMIZER_PREFIX + "step"].item()), start_path, count,
            run.steps))
    comparison = Comparison()
    what = "after %d steps" % count
    torch_tensors = run.tensors()
    parameters = [name for name, _ in run.model.named_parameters()]
    buffers = [name for name, _ in run.model.named_buffers() if "running" in name]
    comparison.tensors("weights", what, torch_tensors, expected, parameters, TOLERANCE)
    comparison.tensors("running statistics", what, torch_tensors, expected, buffers, TOLERANCE)
    return comparison.finish()


def main(argv):
    torch.set_num_threads(1)
    print("torch %s" % torch.__version__)
    if len(argv) == 4 and argv[1] == "forward":
        return check_forward(argv[2], argv[3])
    if len(argv) == 4 and argv[1] == "single-steps":
        return check_single_steps(argv[2], int(argv[3]))
    if len(argv) == 5 and argv[1] == "steps":
        return check_steps(argv[2], argv[3], argv[4])
    raise UsageError("usage: torch_reference_models.py forward WEIGHTS EXPECTED | "
                     "single-steps DIR STEPS | steps BATCHES START END")


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Mismatch as error:
        print("FAILED: %s" % error)
        sys.exit(1)
    except (UsageError, OSError, KeyError, ValueError) as error:
        print("error: %s" % error)
        sys.exit(2)
