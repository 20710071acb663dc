// GPU memory for the CUDA backend: device and page-locked host blocks through caching
// allocators, so that a steady-state training step calls neither cudaMalloc nor cudaFree
// (both synchronise the device), and copies on the compute stream.
#include <cstdint>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_guard.h"
#include "backend/cuda/system_memory.h"
#include "backend/op_checks.h"

namespace lockstep::backend::cuda {

namespace {

thread_local cudaError_t last_error = cudaSuccess;

// Records a failed allocation and clears CUDA's last-error state, so that the next launch
// check does not report this (already handled) failure as its own.
void* failed(cudaError_t status) noexcept {
  last_error = status;
  static_cast<void>(cudaGetLastError());
  return nullptr;
}

bool overlap(const void* a, const void* b, size_t bytes) {
  const auto x = reinterpret_cast<uintptr_t>(a), y = reinterpret_cast<uintptr_t>(b);
  return x < y + bytes && y < x + bytes;
}

}  // namespace

void* system_device_allocate(size_t bytes) noexcept {
  void* pointer = nullptr;
  const cudaError_t status = cudaMalloc(&pointer, bytes);
  return status == cudaSuccess ? pointer : failed(status);
}

void system_device_release(void* pointer) noexcept { LOCKSTEP_CUDA_WARN(cudaFree(pointer)); }

void* system_pinned_allocate(size_t bytes) noexcept {
  void* pointer = nullptr;
  const cudaError_t status = cudaHostAlloc(&pointer, bytes, cudaHostAllocPortable);
  return status == cudaSuccess ? pointer : failed(status);
}

void system_pinned_release(void* pointer) noexcept { LOCKSTEP_CUDA_WARN(cudaFreeHost(pointer)); }

cudaError_t last_allocation_error() noexcept { return last_error; }

void* CudaBackend::allocate(size_t bytes) {
  if (bytes == 0) return nullptr;
  DeviceGuard guard(ordinal_);
  last_error = cudaSuccess;
  void* pointer = device_allocator_.allocate(bytes);
  if (pointer != nullptr) return pointer;
  const AllocatorStats stats = device_allocator_.stats();
  const cudaError_t status = last_allocation_error();
  LOCKSTEP_THROW("cuda:" << ordinal_ << ": out of memory allocating " << bytes << " bytes (in use "
                         << stats.bytes_in_use << ", cached " << stats.bytes_cached
                         << "): cudaMalloc returned " << cudaGetErrorName(status));
}

void CudaBackend::deallocate(void* pointer, size_t bytes) noexcept {
  // The block may still be read by queued kernels; it is handed out again only to ops queued
  // behind them on the same stream. (Only a real release, cudaFree, needs no device: it
  // synchronises by itself.)
  device_allocator_.deallocate(pointer, bytes);
}

void* CudaBackend::allocate_pinned(size_t bytes) {
  if (bytes == 0) return nullptr;
  DeviceGuard guard(ordinal_);
  last_error = cudaSuccess;
  void* pointer = pinned_allocator_.allocate(bytes);
  if (pointer != nullptr) return pointer;
  const AllocatorStats stats = pinned_allocator_.stats();
  LOCKSTEP_THROW("cuda:" << ordinal_ << ": out of page-locked host memory allocating " << bytes
                         << " bytes (in use " << stats.bytes_in_use << ", cached "
                         << stats.bytes_cached << "): cudaHostAlloc returned "
                         << cudaGetErrorName(last_allocation_error()));
}

void CudaBackend::deallocate_pinned(void* pointer, size_t bytes) noexcept {
  // Every copy from or to pinned memory has completed when its method returned.
  pinned_allocator_.deallocate(pointer, bytes);
}

void CudaBackend::read_back(void* host_dst, const void* device_src, size_t bytes) {
  LOCKSTEP_CUDA_CHECK(
      cudaMemcpyAsync(host_dst, device_src, bytes, cudaMemcpyDeviceToHost, stream_));
  LOCKSTEP_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::copy_to_host(void* host_dst, const void* device_src, size_t bytes) {
  if (bytes == 0) return;
  DeviceGuard guard(ordinal_);
  read_back(host_dst, device_src, bytes);
}

void CudaBackend::copy_from_host(void* device_dst, const void* host_src, size_t bytes) {
  if (bytes == 0) return;
  DeviceGuard guard(ordinal_);
  LOCKSTEP_CUDA_CHECK(
      cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice, stream_));
  // The caller may reuse or free the host buffer as soon as this returns.
  LOCKSTEP_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::copy_rows(float* dst, int64_t dst_stride, const float* src, int64_t src_stride,
                            int64_t rows, int64_t cols) {
  check_copy_rows(dst_stride, dst, src_stride, src, rows, cols);
  if (rows == 0 || cols == 0) return;
  DeviceGuard guard(ordinal_);
  constexpr size_t kFloat = sizeof(float);
  LOCKSTEP_CUDA_CHECK(cudaMemcpy2DAsync(
      dst, static_cast<size_t>(dst_stride) * kFloat, src, static_cast<size_t>(src_stride) * kFloat,
      static_cast<size_t>(cols) * kFloat, static_cast<size_t>(rows), cudaMemcpyDeviceToDevice,
      stream_));
}

void CudaBackend::copy(void* dst, const void* src, size_t bytes) {
  if (bytes == 0 || dst == src) return;
  DeviceGuard guard(ordinal_);
  if (!overlap(dst, src, bytes)) {
    LOCKSTEP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
    return;
  }
  // Overlapping ranges (memmove semantics, as on the CPU): cudaMemcpy's result would be
  // undefined, so go through a temporary block.
  Scratch staging(*this, bytes);
  LOCKSTEP_CUDA_CHECK(
      cudaMemcpyAsync(staging.get(), src, bytes, cudaMemcpyDeviceToDevice, stream_));
  LOCKSTEP_CUDA_CHECK(
      cudaMemcpyAsync(dst, staging.get(), bytes, cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::synchronize() {
  DeviceGuard guard(ordinal_);
  LOCKSTEP_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

}  // namespace lockstep::backend::cuda
