// Host memory for the CPU backend: 64-byte aligned so BLAS and vector loops get aligned rows,
// through a caching allocator so that a steady-state training step allocates nothing.
#include <cstdlib>
#include <cstring>
#include <new>

#include "backend/cpu/cpu_backend.h"
#include "backend/op_checks.h"
#include "lockstep/base/error.h"

namespace lockstep::backend::cpu {

namespace {
constexpr size_t kAlignment = 64;
// Larger host blocks are returned to malloc when freed: a step's tensors are smaller, and
// glibc serves large blocks from fresh pages cheaply, while caching a data set's temporaries
// would keep hundreds of MB reserved for the whole run.
constexpr size_t kLargestCached = size_t{64} << 20;
}  // namespace

CpuBackend::CpuBackend()
    : allocator_([](size_t bytes) { return std::aligned_alloc(kAlignment, bytes); },
                 [](void* pointer) { std::free(pointer); }, kLargestCached) {
  static_assert(CachingAllocator::kGranularity % kAlignment == 0);
}

void* CpuBackend::allocate(size_t bytes) {
  void* pointer = allocator_.allocate(bytes);
  LOCKSTEP_CHECK(pointer != nullptr, "cpu: could not allocate " << bytes << " bytes");
  return pointer;
}

void CpuBackend::deallocate(void* pointer, size_t bytes) noexcept {
  allocator_.deallocate(pointer, bytes);
}

void CpuBackend::copy_to_host(void* host_dst, const void* device_src, size_t bytes) {
  std::memcpy(host_dst, device_src, bytes);
}

void CpuBackend::copy_from_host(void* device_dst, const void* host_src, size_t bytes) {
  std::memcpy(device_dst, host_src, bytes);
}

void CpuBackend::copy(void* dst, const void* src, size_t bytes) { std::memmove(dst, src, bytes); }

void CpuBackend::copy_rows(float* dst, int64_t dst_stride, const float* src, int64_t src_stride,
                           int64_t rows, int64_t cols) {
  check_copy_rows(dst_stride, dst, src_stride, src, rows, cols);
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(dst + r * dst_stride, src + r * src_stride,
                static_cast<size_t>(cols) * sizeof(float));
  }
}

}  // namespace lockstep::backend::cpu
