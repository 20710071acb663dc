// Packing tensors end to end in one buffer, for the code that wants many parameters' values,
// grads or optimizer slots in one flat array (fusion buckets, fused optimizer updates).
#pragma once

#include <span>

#include "lockstep/base/device.h"
#include "lockstep/tensor/tensor.h"

namespace lockstep {

// Copies `tensors` into one new buffer on `device`, end to end in the order given, and makes
// each a view of its part of it (same shape, same values).
void pack_end_to_end(std::span<Tensor* const> tensors, const Device& device);

}  // namespace lockstep
