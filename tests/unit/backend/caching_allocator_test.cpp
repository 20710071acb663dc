// CachingAllocator: a warmed-up loop of the same sizes reaches the system allocator no more,
// large one-off blocks are not kept, and a failing system allocation first empties the cache.
#include "backend/caching_allocator.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

namespace lockstep::backend {
namespace {

struct CountingSystem {
  int allocations = 0, releases = 0;
  size_t fail_above = SIZE_MAX;  // allocations larger than this fail
  std::set<void*> live;
};

CachingAllocator make(CountingSystem& system, size_t largest_cached = SIZE_MAX) {
  return CachingAllocator(
      [&system](size_t bytes) -> void* {
        if (bytes > system.fail_above) return nullptr;
        ++system.allocations;
        void* p = std::malloc(bytes);
        system.live.insert(p);
        return p;
      },
      [&system](void* p) {
        ++system.releases;
        system.live.erase(p);
        std::free(p);
      },
      largest_cached);
}

#if !defined(__SANITIZE_ADDRESS__)  // under ASan nothing is cached, on purpose
TEST(CachingAllocatorTest, ASecondStepOfTheSameSizesAllocatesNothingNew) {
  CountingSystem system;
  {
    CachingAllocator allocator = make(system);
    for (int step = 0; step < 3; ++step) {
      void* a = allocator.allocate(1000);
      void* b = allocator.allocate(4096);
      void* c = allocator.allocate(1000);
      allocator.deallocate(b, 4096);
      allocator.deallocate(a, 1000);
      allocator.deallocate(c, 1000);
    }
    EXPECT_EQ(system.allocations, 3);  // the first step's
    EXPECT_EQ(allocator.stats().bytes_in_use, 0);
    EXPECT_EQ(allocator.stats().bytes_cached, 512 * 2 * 2 + 4096);  // sizes rounded to 512
  }
  EXPECT_TRUE(system.live.empty());  // the destructor hands the cache back
}

TEST(CachingAllocatorTest, BlocksAboveTheLimitGoStraightBack) {
  CountingSystem system;
  CachingAllocator allocator = make(system, 4096);
  allocator.deallocate(allocator.allocate(8192), 8192);
  EXPECT_EQ(system.releases, 1);
  EXPECT_EQ(allocator.stats().bytes_cached, 0);
  allocator.deallocate(allocator.allocate(4096), 4096);
  EXPECT_EQ(allocator.stats().bytes_cached, 4096);
}

TEST(CachingAllocatorTest, AFailedAllocationEmptiesTheCacheAndRetries) {
  CountingSystem system;
  CachingAllocator allocator = make(system);
  allocator.deallocate(allocator.allocate(2048), 2048);
  system.fail_above = 1024;  // pretend memory is short: only small blocks fit now
  EXPECT_EQ(allocator.allocate(4096), nullptr);
  EXPECT_EQ(system.releases, 1);  // the cached 2048 went back before giving up
  EXPECT_EQ(allocator.stats().bytes_cached, 0);
}
#endif

}  // namespace
}  // namespace lockstep::backend
