// Weights-only files: a model's parameters under their names ("1.weight" [out, in], ...) with
// the model spec in the metadata — what Keras's model.save_weights is to a checkpoint.
#pragma once

#include <filesystem>

#include "lockstep/nn/model.h"

namespace lockstep::io {

// Writes `model`'s parameters as a safetensors file, atomically, with metadata
// {"format": "lockstep-weights", "model_spec": <spec JSON>}. NumPy and PyTorch read it as is.
void save_weights(const std::filesystem::path& path, nn::Model& model);

}  // namespace lockstep::io
