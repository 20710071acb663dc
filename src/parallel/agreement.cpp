// Agreement checks: one allgather of a fixed record, compared with rank 0's on every rank, so
// that every rank sees the same values and throws the same error.
#include "parallel/agreement.h"

#include <sstream>

#include "lockstep/base/error.h"

namespace lockstep::parallel {

namespace {

// "rank 0 has 4, rank 1 has 5" for one value, every rank listed.
std::string every_rank(const std::vector<int64_t>& all, size_t field, size_t fields) {
  std::ostringstream text;
  const size_t ranks = all.size() / fields;
  for (size_t r = 0; r < ranks; ++r) {
    text << (r > 0 ? ", " : "") << "rank " << r << " has " << all[r * fields + field];
  }
  return text.str();
}

}  // namespace

void check_agreement(comm::Communicator& communicator, const std::string& what,
                     const std::vector<AgreedValue>& values) {
  const size_t fields = values.size();
  std::vector<int64_t> mine(fields), all(fields * static_cast<size_t>(communicator.size()));
  for (size_t f = 0; f < fields; ++f) mine[f] = values[f].value;
  communicator.allgather(mine.data(), static_cast<int64_t>(fields * sizeof(int64_t)), all.data());
  std::ostringstream differing;
  for (size_t f = 0; f < fields; ++f) {
    bool same = true;
    for (size_t r = 1; r < static_cast<size_t>(communicator.size()); ++r) {
      same = same && all[r * fields + f] == all[f];
    }
    if (!same) {
      differing << "; " << values[f].name << ": " << every_rank(all, f, fields);
    }
  }
  LOCKSTEP_CHECK(differing.str().empty(), what << differing.str());
}

int64_t hash_values(const std::vector<int64_t>& values) {
  uint64_t hash = 14695981039346656037ull;
  for (int64_t value : values) {
    auto bits = static_cast<uint64_t>(value);
    for (int byte = 0; byte < 8; ++byte) {
      hash ^= bits & 0xFF;
      hash *= 1099511628211ull;
      bits >>= 8;
    }
  }
  return static_cast<int64_t>(hash);
}

}  // namespace lockstep::parallel
