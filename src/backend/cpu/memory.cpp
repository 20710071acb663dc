// Host memory for the CPU backend: 64-byte aligned so BLAS and vector loops get aligned rows.
#include <cstdlib>
#include <cstring>
#include <new>

#include "backend/cpu/cpu_backend.h"
#include "lockstep/core/error.h"

namespace lockstep::backend::cpu {

namespace {
constexpr size_t kAlignment = 64;
}

void* CpuBackend::allocate(size_t bytes) {
  const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* pointer = std::aligned_alloc(kAlignment, rounded);
  LOCKSTEP_CHECK(pointer != nullptr, "cpu: could not allocate " << bytes << " bytes");
  return pointer;
}

void CpuBackend::deallocate(void* pointer, size_t /*bytes*/) noexcept { std::free(pointer); }

void CpuBackend::copy_to_host(void* host_dst, const void* device_src, size_t bytes) {
  std::memcpy(host_dst, device_src, bytes);
}

void CpuBackend::copy_from_host(void* device_dst, const void* host_src, size_t bytes) {
  std::memcpy(device_dst, host_src, bytes);
}

void CpuBackend::copy(void* dst, const void* src, size_t bytes) { std::memmove(dst, src, bytes); }

}  // namespace lockstep::backend::cpu
