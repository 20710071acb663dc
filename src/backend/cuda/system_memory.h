// The system allocators beneath CudaBackend's caching allocators (cudaMalloc/cudaFree and
// cudaHostAlloc/cudaFreeHost). They return nullptr on failure instead of throwing, as
// CachingAllocator requires, and keep the failing status so the error can name it.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace lockstep::backend::cuda {

// Device memory on the calling thread's current device (CudaBackend sets it first).
void* system_device_allocate(size_t bytes) noexcept;
void system_device_release(void* pointer) noexcept;
// Page-locked host memory, portable: every GPU of the process copies to and from it directly.
void* system_pinned_allocate(size_t bytes) noexcept;
void system_pinned_release(void* pointer) noexcept;

// The status of the calling thread's last failed system allocation (cudaSuccess if none).
cudaError_t last_allocation_error() noexcept;

}  // namespace lockstep::backend::cuda
