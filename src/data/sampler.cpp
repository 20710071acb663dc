// Sampler: Philox-keyed Fisher-Yates with unbiased bounded integers by rejection; no std
// distribution or std::shuffle, whose results differ between standard libraries.
#include "lockstep/data/sampler.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "lockstep/base/error.h"
#include "lockstep/base/philox.h"

namespace lockstep::data {

namespace {

// Keeps shuffle streams apart from other Philox users that share the run seed.
constexpr uint32_t kShuffleTag = 0x5348554Cu;  // "SHUL"

// A uniform integer in [0, bound) for swap position `position` of epoch `epoch`.
// Candidates below 2^64 mod bound are rejected so that every residue is equally likely.
uint64_t uniform_below(uint64_t bound, uint64_t seed, uint32_t epoch, uint64_t position) {
  const philox::Key key{
      {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32) ^ kShuffleTag}};
  const uint64_t threshold = (0 - bound) % bound;
  for (uint32_t attempt = 0;; ++attempt) {
    const philox::Counter counter{
        {static_cast<uint32_t>(position), static_cast<uint32_t>(position >> 32), epoch, attempt}};
    const philox::Counter words = philox::philox4x32_10(counter, key);
    const uint64_t first = (static_cast<uint64_t>(words.w[0]) << 32) | words.w[1];
    if (first >= threshold) return first % bound;
    const uint64_t second = (static_cast<uint64_t>(words.w[2]) << 32) | words.w[3];
    if (second >= threshold) return second % bound;
  }
}

}  // namespace

std::vector<int64_t> global_order(int64_t num_samples, uint64_t seed, int64_t epoch, bool shuffle) {
  LOCKSTEP_CHECK(num_samples >= 0,
                 "global_order: expected num_samples >= 0, found " << num_samples);
  LOCKSTEP_CHECK(epoch >= 0 && epoch <= int64_t{0xFFFFFFFF},
                 "global_order: expected an epoch in 0 to 2^32-1, found " << epoch);
  std::vector<int64_t> order(static_cast<size_t>(num_samples));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (!shuffle) return order;
  for (int64_t i = num_samples - 1; i > 0; --i) {
    const auto j =
        static_cast<int64_t>(uniform_below(static_cast<uint64_t>(i) + 1, seed,
                                           static_cast<uint32_t>(epoch), static_cast<uint64_t>(i)));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

int64_t batches_per_epoch(int64_t num_samples, int64_t batch_size, bool drop_last) {
  LOCKSTEP_CHECK(num_samples >= 0,
                 "batches_per_epoch: expected num_samples >= 0, found " << num_samples);
  LOCKSTEP_CHECK(batch_size >= 1,
                 "batches_per_epoch: expected batch_size >= 1, found " << batch_size);
  return drop_last ? num_samples / batch_size
                   : num_samples / batch_size + (num_samples % batch_size != 0 ? 1 : 0);
}

std::span<const int64_t> batch_rows(std::span<const int64_t> order, int64_t batch_index,
                                    int64_t batch_size, bool drop_last) {
  const auto n = static_cast<int64_t>(order.size());
  const int64_t batches = batches_per_epoch(n, batch_size, drop_last);
  LOCKSTEP_CHECK(batch_index >= 0 && batch_index < batches,
                 "batch_rows: batch " << batch_index << " is outside the " << batches
                                      << " batches of " << batch_size << " in " << n << " samples"
                                      << (drop_last ? " (drop_last)" : ""));
  const int64_t begin = batch_index * batch_size;
  const int64_t count = std::min(batch_size, n - begin);
  return order.subspan(static_cast<size_t>(begin), static_cast<size_t>(count));
}

}  // namespace lockstep::data
