// Small helpers shared by the layer implementations: shape text for error messages and the
// checks every forward/backward makes before touching raw pointers.
#pragma once

#include <string>

#include "lockstep/base/error.h"
#include "lockstep/tensor/tensor.h"

namespace lockstep::nn::detail {

// "[batch, 1, 28, 28]" for the per-sample shape [1, 28, 28].
std::string batched(const Shape& per_sample);

// The shape [batch, ...per_sample].
Shape with_batch(int64_t batch, const Shape& per_sample);

// The per-sample part of a [batch, ...] shape.
Shape per_sample(const Shape& shape);

// Throws unless dy has the shape of the last forward's output and lives on its device.
void check_gradient(const char* layer, const Tensor& dy, const Shape& output_shape,
                    const Device& device);

// Throws unless the per-sample shape is an image [channels, height, width] with `channels`.
void check_image_shape(const char* layer, const Shape& per_sample, int64_t channels);

// Throws unless x is a batch of images [batch, channels, height, width] with `channels`.
void check_image_batch(const char* layer, const Tensor& x, int64_t channels);

// Throws unless the parameter `what` of `layer` is on the input's device.
void check_parameter_device(const char* layer, const char* what, const Tensor& parameter,
                            const Tensor& x);

}  // namespace lockstep::nn::detail
