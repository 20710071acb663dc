// Agreement checks: ranks allgather a few named numbers and compare them with rank 0's, so
// that ranks about to run different training (another step, epoch length or gradient layout)
// stop with the same clear error on every rank instead of reducing mismatched buffers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lockstep/comm/communicator.h"

namespace lockstep::parallel {

struct AgreedValue {
  const char* name;  // "step", "batches per epoch", ...
  int64_t value;
};

// Allgathers `values` (the same names, in the same order, on every rank) and throws
// lockstep::Error on every rank when any rank's values differ from rank 0's. The message
// starts with `what` and names each differing value with every rank's value of it.
void check_agreement(comm::Communicator& communicator, const std::string& what,
                     const std::vector<AgreedValue>& values);

// A 64-bit FNV-1a hash of a list of numbers (a layout too long to compare number by number).
int64_t hash_values(const std::vector<int64_t>& values);

}  // namespace lockstep::parallel
