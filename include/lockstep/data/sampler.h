// The global order of samples in an epoch and its batches. The order is a pure function of
// (seed, epoch): a Fisher-Yates shuffle driven by Philox with its own integer arithmetic, so
// every rank, machine and compiler computes the same permutation (docs/ARCHITECTURE.md, "noise
// keyed by data").
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace lockstep::data {

// A permutation of 0..num_samples-1; the identity when `shuffle` is false. Throws
// lockstep::Error unless num_samples >= 0 and 0 <= epoch < 2^32.
std::vector<int64_t> global_order(int64_t num_samples, uint64_t seed, int64_t epoch,
                                  bool shuffle = true);

// Batches in one epoch: ceil(num_samples / batch_size), or the floor with drop_last.
int64_t batches_per_epoch(int64_t num_samples, int64_t batch_size, bool drop_last);

// The sample ids of batch `batch_index`: order[b * batch_size, min((b + 1) * batch_size, N)).
// The last batch is short unless drop_last, which leaves it out. Throws lockstep::Error when
// batch_index is not below batches_per_epoch.
std::span<const int64_t> batch_rows(std::span<const int64_t> order, int64_t batch_index,
                                    int64_t batch_size, bool drop_last);

}  // namespace lockstep::data
