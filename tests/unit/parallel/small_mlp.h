// The small model the bucket and reducer tests share: Dense 16 -> 8, ReLU, Dense 8 -> 4, so
// 1.weight [8, 16] = 128, 1.bias 8, 3.weight [4, 8] = 32, 3.bias 4 elements.
#pragma once

#include <memory>

#include "lockstep/nn/model.h"

namespace lockstep::parallel {

inline std::unique_ptr<nn::Model> small_mlp() {
  return nn::build_model({{"name", "m"},
                          {"input_shape", {16}},
                          {"layers",
                           {{{"type", "Dense"}, {"units", 8}},
                            {{"type", "ReLU"}},
                            {{"type", "Dense"}, {"units", 4}}}}},
                         1);
}

}  // namespace lockstep::parallel
