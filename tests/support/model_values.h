// The values of a model as one vector, for tests that compare trained models bit for bit.
// Header-only: only tests that link the nn part include it.
#pragma once

#include <vector>

#include "lockstep/nn/model.h"

namespace lockstep::testing {

// Every parameter's values in parameter order, read back to the host.
inline std::vector<float> parameter_values(nn::Model& model) {
  std::vector<float> all;
  for (nn::Parameter* p : model.parameters()) {
    const std::vector<float> v = p->value.to_vector();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

// parameter_values, then every buffer's values (BatchNorm's running statistics).
inline std::vector<float> parameter_and_buffer_values(nn::Model& model) {
  std::vector<float> all = parameter_values(model);
  for (nn::Buffer* b : model.buffers()) {
    const std::vector<float> v = b->value.to_vector();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

}  // namespace lockstep::testing
