// NamedTensor: a tensor with the name it is stored under (checkpoints, optimizer state).
#pragma once

#include <string>
#include <vector>

#include "lockstep/tensor/tensor.h"

namespace lockstep {

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

using NamedTensors = std::vector<NamedTensor>;

}  // namespace lockstep
