// Exact-size free lists: a step's tensors have the same shapes every step, so an exact match
// is found from the second step on, and no block is ever split or merged.
#include "backend/caching_allocator.h"

#include <utility>

namespace lockstep::backend {

namespace {
// Under AddressSanitizer every block goes straight back to the system, so that a use after
// free is still caught.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCache = false;
#else
constexpr bool kCache = true;
#endif
}  // namespace

CachingAllocator::CachingAllocator(SystemAllocate allocate, SystemRelease release,
                                   size_t largest_cached)
    : system_allocate_(std::move(allocate)),
      system_release_(std::move(release)),
      largest_cached_(largest_cached) {}

CachingAllocator::~CachingAllocator() { release_cached(); }

void* CachingAllocator::allocate(size_t bytes) {
  const size_t size = rounded(bytes);
  std::lock_guard lock(mutex_);
  auto it = free_blocks_.find(size);
  if (it != free_blocks_.end() && !it->second.empty()) {
    void* pointer = it->second.back();
    it->second.pop_back();
    stats_.bytes_cached -= static_cast<int64_t>(size);
    stats_.bytes_in_use += static_cast<int64_t>(size);
    return pointer;
  }
  void* pointer = system_allocate_(size);
  if (pointer == nullptr && stats_.bytes_cached > 0) {
    release_cached_locked();  // memory is held for other sizes: give it back and retry
    pointer = system_allocate_(size);
  }
  if (pointer == nullptr) return nullptr;
  ++stats_.system_allocations;
  stats_.bytes_in_use += static_cast<int64_t>(size);
  return pointer;
}

void CachingAllocator::deallocate(void* pointer, size_t bytes) noexcept {
  if (pointer == nullptr) return;
  const size_t size = rounded(bytes);
  std::lock_guard lock(mutex_);
  if (!kCache || size > largest_cached_) {
    system_release_(pointer);
    stats_.bytes_in_use -= static_cast<int64_t>(size);
    return;
  }
  try {
    free_blocks_[size].push_back(pointer);
  } catch (...) {  // no memory for the free list itself: free the block instead
    system_release_(pointer);
    stats_.bytes_in_use -= static_cast<int64_t>(size);
    return;
  }
  stats_.bytes_in_use -= static_cast<int64_t>(size);
  stats_.bytes_cached += static_cast<int64_t>(size);
}

void CachingAllocator::release_cached() noexcept {
  std::lock_guard lock(mutex_);
  release_cached_locked();
}

void CachingAllocator::release_cached_locked() noexcept {
  for (auto& [size, blocks] : free_blocks_) {
    for (void* pointer : blocks) system_release_(pointer);
  }
  free_blocks_.clear();
  stats_.bytes_cached = 0;
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace lockstep::backend
