// Making a GPU the current CUDA device: defined in cuda/ (cudaSetDevice) or, in a build
// without CUDA, in no_cuda/ (nothing to do: such a build never chooses a GPU).
#pragma once

namespace lockstep::runtime::detail {

// Makes GPU `ordinal` the current device of the calling thread; throws lockstep::Error when
// the CUDA runtime refuses.
void select_cuda_device(int ordinal);

}  // namespace lockstep::runtime::detail
