// Weights-only files: a model's parameters and buffers under their names ("1.weight"
// [out, in], "2.running_mean", ...) with the model spec in the metadata — what Keras's
// model.save_weights is to a checkpoint.
#pragma once

#include <filesystem>

#include "lockstep/nn/model.h"
#include "lockstep/tensor/named_tensor.h"

namespace lockstep::io {

// What a model saves: every parameter's value, then every buffer, under its name. The tensors
// share the model's memory, so copying into them restores the model.
NamedTensors model_tensors(nn::Model& model);

// Writes `model`'s parameters and buffers as a safetensors file, atomically, with metadata
// {"format": "lockstep-weights", "model_spec": <spec JSON>}. NumPy and PyTorch read it as is.
void save_weights(const std::filesystem::path& path, nn::Model& model);

}  // namespace lockstep::io
