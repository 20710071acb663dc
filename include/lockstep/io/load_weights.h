// Weights-only restore for inference: a model rebuilt from a checkpoint's spec and filled
// with its parameters, with no optimizer involved.
#pragma once

#include <filesystem>
#include <memory>

#include "lockstep/io/checkpoint.h"
#include "lockstep/nn/model.h"

namespace lockstep::io {

// Copies the checkpoint's parameters into `model` after checking that the spec matches
// model.spec() and that every parameter is present with its shape and nothing is extra.
// When anything does not fit, the model is left unchanged.
void load_weights(const Checkpoint& checkpoint, nn::Model& model);

// Builds the model its stored spec describes and loads its weights.
std::unique_ptr<nn::Model> load_model(const Checkpoint& checkpoint);

}  // namespace lockstep::io
