// CachingAllocator: keeps freed blocks for reuse, so that a training loop, which allocates
// the same sizes every step, stops calling the system allocator (malloc, cudaMalloc) once
// warmed up. Sizes are rounded up to kGranularity bytes and matched exactly; when the
// underlying allocator fails, the cache is released and the allocation retried once.
// Thread-safe. Used by the CPU and CUDA backends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace lockstep::backend {

struct AllocatorStats {
  int64_t system_allocations = 0;  // calls to the underlying allocator so far
  int64_t bytes_in_use = 0;        // handed out and not yet returned
  int64_t bytes_cached = 0;        // returned and kept for reuse
};

class CachingAllocator {
 public:
  static constexpr size_t kGranularity = 512;
  // `allocate` returns nullptr on failure (it must not throw); `release` frees its blocks.
  using SystemAllocate = std::function<void*(size_t bytes)>;
  using SystemRelease = std::function<void(void* pointer)>;

  // Blocks larger than `largest_cached` bytes go straight back to the system when freed
  // (one-off buffers, like a data set being decoded, must not stay reserved for the run).
  CachingAllocator(SystemAllocate allocate, SystemRelease release,
                   size_t largest_cached = SIZE_MAX);
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // A block of at least `bytes` (> 0); nullptr when the system allocator fails even after
  // the cache was emptied.
  void* allocate(size_t bytes);
  // Returns a block from allocate(bytes) (the same `bytes`) to the cache.
  void deallocate(void* pointer, size_t bytes) noexcept;
  // Hands every cached block back to the system allocator.
  void release_cached() noexcept;
  AllocatorStats stats() const;

  static size_t rounded(size_t bytes) {
    return (bytes + kGranularity - 1) / kGranularity * kGranularity;
  }

 private:
  void release_cached_locked() noexcept;

  SystemAllocate system_allocate_;
  SystemRelease system_release_;
  size_t largest_cached_;
  mutable std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_blocks_;  // by rounded size
  AllocatorStats stats_;
};

}  // namespace lockstep::backend
