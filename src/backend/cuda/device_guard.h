// DeviceGuard: makes one GPU the calling thread's current device for a scope and restores
// the previous one after. CUDA's current device is per thread and every launch, allocation
// and stream call goes to it, so each CudaBackend method opens with a guard; restoring keeps
// the caller's own choice (another backend, NCCL set-up code) intact.
#pragma once

#include "backend/cuda/cuda_check.h"

namespace lockstep::backend::cuda {

class DeviceGuard {
 public:
  explicit DeviceGuard(int ordinal) : ordinal_(ordinal) {
    LOCKSTEP_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != ordinal_) LOCKSTEP_CUDA_CHECK(cudaSetDevice(ordinal_));
  }
  ~DeviceGuard() {
    if (previous_ != ordinal_) LOCKSTEP_CUDA_WARN(cudaSetDevice(previous_));
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int ordinal_;
  int previous_ = 0;
};

}  // namespace lockstep::backend::cuda
