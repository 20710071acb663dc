// CudaBackend construction: the compute stream, the cuBLAS handle bound to it, the two caching
// allocators (device memory, page-locked host memory), and the process-wide TF32 switch.
#include "backend/cuda/cuda_backend.h"

#include <atomic>
#include <cstdlib>
#include <string_view>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_guard.h"
#include "backend/cuda/system_memory.h"
#include "lockstep/base/logging.h"

namespace lockstep::backend::cuda {

namespace {

bool tf32_from_environment() {
  const char* value = std::getenv("LOCKSTEP_ALLOW_TF32");
  return value != nullptr && std::string_view(value) == "1";
}

std::atomic<bool>& tf32_flag() {
  static std::atomic<bool> flag{tf32_from_environment()};
  return flag;
}

}  // namespace

void CudaBackend::set_allow_tf32(bool allow) { tf32_flag().store(allow); }

bool CudaBackend::allow_tf32() { return tf32_flag().load(); }

CudaBackend::CudaBackend(int ordinal)
    : ordinal_(ordinal),
      device_allocator_(system_device_allocate, system_device_release),
      pinned_allocator_(system_pinned_allocate, system_pinned_release) {
  DeviceGuard guard(ordinal_);
  LOCKSTEP_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  try {
    LOCKSTEP_CUBLAS_CHECK(cublasCreate(&cublas_));
    LOCKSTEP_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
  } catch (...) {
    if (cublas_ != nullptr) cublasDestroy(cublas_);
    LOCKSTEP_CUDA_WARN(cudaStreamDestroy(stream_));
    throw;
  }
}

CudaBackend::~CudaBackend() {
  // Never throws: a failure here is reported and the rest is still released.
  int previous = 0;
  LOCKSTEP_CUDA_WARN(cudaGetDevice(&previous));
  LOCKSTEP_CUDA_WARN(cudaSetDevice(ordinal_));
  LOCKSTEP_CUDA_WARN(cudaStreamSynchronize(stream_));
  if (cublasDestroy(cublas_) != CUBLAS_STATUS_SUCCESS) {
    logging::warn("cublasDestroy failed");
  }
  LOCKSTEP_CUDA_WARN(cudaStreamDestroy(stream_));
  device_allocator_.release_cached();
  pinned_allocator_.release_cached();
  LOCKSTEP_CUDA_WARN(cudaSetDevice(previous));
}

}  // namespace lockstep::backend::cuda
