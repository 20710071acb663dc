// The CUDA side of device binding: cudaSetDevice for the GPU a rank was given.
#include "runtime/select_cuda_device.h"

#include "backend/cuda/cuda_check.h"

namespace lockstep::runtime::detail {

void select_cuda_device(int ordinal) { LOCKSTEP_CUDA_CHECK(cudaSetDevice(ordinal)); }

}  // namespace lockstep::runtime::detail
