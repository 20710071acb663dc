// Buffer: a tensor of a model's state that training computes rather than learns (BatchNorm's
// running mean and variance), with its name in the model ("3.running_mean"). Saved and loaded
// with the parameters; the optimizer never sees it.
#pragma once

#include <string>

#include "lockstep/tensor/tensor.h"

namespace lockstep::nn {

struct Buffer {
  std::string name;
  Tensor value;
};

}  // namespace lockstep::nn
