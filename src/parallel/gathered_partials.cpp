// GatheredPartials: a fixed-size allgather (each rank padded to the most passes any rank runs),
// then the padding dropped.
#include "parallel/gathered_partials.h"

#include <algorithm>

#include "lockstep/base/error.h"

namespace lockstep::parallel {

void GatheredPartials::begin_step(std::vector<int64_t> passes_per_rank) {
  LOCKSTEP_CHECK(static_cast<int>(passes_per_rank.size()) == communicator_.size(),
                 "GatheredPartials: expected the passes of "
                     << communicator_.size() << " ranks, found " << passes_per_rank.size());
  passes_per_rank_ = std::move(passes_per_rank);
}

std::vector<double> GatheredPartials::gather(const std::vector<double>& mine, int64_t width) {
  LOCKSTEP_CHECK(!passes_per_rank_.empty(), "GatheredPartials: gather before begin_step");
  const int64_t my_passes = passes_per_rank_[static_cast<size_t>(communicator_.rank())];
  LOCKSTEP_CHECK(width > 0 && static_cast<int64_t>(mine.size()) == my_passes * width,
                 "GatheredPartials: expected " << my_passes << " passes of " << width
                                               << " sums from this rank, found " << mine.size()
                                               << " values");
  const int64_t most = *std::max_element(passes_per_rank_.begin(), passes_per_rank_.end());
  const size_t slot = static_cast<size_t>(most * width);
  std::vector<double> send(slot, 0.0);
  std::copy(mine.begin(), mine.end(), send.begin());
  std::vector<double> received(slot * passes_per_rank_.size());
  {
    const comm::ScopedLabel label(communicator_, "BatchNorm statistics");
    communicator_.allgather(send.data(), static_cast<int64_t>(slot * sizeof(double)),
                            received.data());
  }
  std::vector<double> all;
  for (size_t r = 0; r < passes_per_rank_.size(); ++r) {
    const auto first = received.begin() + static_cast<std::ptrdiff_t>(r * slot);
    all.insert(all.end(), first, first + passes_per_rank_[r] * width);
  }
  return all;
}

}  // namespace lockstep::parallel
