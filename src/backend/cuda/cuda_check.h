// Checks for every CUDA runtime and cuBLAS call, and for kernel launches: a failure throws
// lockstep::Error naming the call, the code's name and text, and where it happened. Code that
// must not throw (destructors, deallocation) reports with LOCKSTEP_CUDA_WARN instead.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdio>

#include "lockstep/base/error.h"
#include "lockstep/base/logging.h"

// Throws unless the CUDA runtime call `expr` returns cudaSuccess.
#define LOCKSTEP_CUDA_CHECK(expr)                                                               \
  do {                                                                                          \
    const cudaError_t lockstep_cuda_status_ = (expr);                                           \
    if (lockstep_cuda_status_ != cudaSuccess) {                                                 \
      LOCKSTEP_THROW("CUDA call " << #expr                                                      \
                                  << " failed: " << cudaGetErrorName(lockstep_cuda_status_)     \
                                  << " (" << cudaGetErrorString(lockstep_cuda_status_) << ")"); \
    }                                                                                           \
  } while (false)

// After every kernel launch: a bad configuration shows up here, naming the kernel, not at
// the next synchronisation. (An earlier kernel's asynchronous fault may surface here too.)
#define LOCKSTEP_CUDA_CHECK_LAUNCH(kernel_name)                                                   \
  do {                                                                                            \
    const cudaError_t lockstep_cuda_status_ = cudaGetLastError();                                 \
    if (lockstep_cuda_status_ != cudaSuccess) {                                                   \
      LOCKSTEP_THROW("CUDA kernel " << #kernel_name                                               \
                                    << " failed: " << cudaGetErrorName(lockstep_cuda_status_)     \
                                    << " (" << cudaGetErrorString(lockstep_cuda_status_) << ")"); \
    }                                                                                             \
  } while (false)

// For code that must not throw: logs the failure of `expr` as a warning and goes on.
#define LOCKSTEP_CUDA_WARN(expr)                                                          \
  do {                                                                                    \
    const cudaError_t lockstep_cuda_status_ = (expr);                                     \
    if (lockstep_cuda_status_ != cudaSuccess) {                                           \
      ::lockstep::logging::warn("CUDA call %s failed at %s:%d: %s (%s)", #expr, __FILE__, \
                                __LINE__, cudaGetErrorName(lockstep_cuda_status_),        \
                                cudaGetErrorString(lockstep_cuda_status_));               \
    }                                                                                     \
  } while (false)

// Throws unless the cuBLAS call `expr` returns CUBLAS_STATUS_SUCCESS.
#define LOCKSTEP_CUBLAS_CHECK(expr)                                                          \
  do {                                                                                       \
    const cublasStatus_t lockstep_cublas_status_ = (expr);                                   \
    if (lockstep_cublas_status_ != CUBLAS_STATUS_SUCCESS) {                                  \
      LOCKSTEP_THROW("cuBLAS call "                                                          \
                     << #expr << " failed: " << cublasGetStatusName(lockstep_cublas_status_) \
                     << " (" << cublasGetStatusString(lockstep_cublas_status_) << ")");      \
    }                                                                                        \
  } while (false)
