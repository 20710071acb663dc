// Parameter: a trainable tensor and its gradient, with its name in the model ("0.weight").
#pragma once

#include <string>

#include "lockstep/tensor/tensor.h"

namespace lockstep::nn {

struct Parameter {
  std::string name;
  Tensor value;
  // The SUM-gradient of the last backward pass. Layers write into this tensor's storage and
  // never reassign it, so the engine may point it at a slice of a fusion buffer.
  Tensor grad;
};

}  // namespace lockstep::nn
