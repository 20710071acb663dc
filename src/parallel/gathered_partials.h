// GatheredPartials: the engine's nn::StepPartials. Every rank's per-pass sums travel in one
// allgather on the host communicator and are laid out rank after rank: ranks hold consecutive
// passes of the global batch (the partition gives each rank whole micro-batches in rank
// order), so that is the order of the global batch.
#pragma once

#include <cstdint>
#include <vector>

#include "lockstep/comm/communicator.h"
#include "lockstep/nn/step_partials.h"

namespace lockstep::parallel {

class GatheredPartials final : public nn::StepPartials {
 public:
  explicit GatheredPartials(comm::Communicator& communicator) : communicator_(communicator) {}

  // Before each training step: how many passes each rank runs in it, in rank order.
  void begin_step(std::vector<int64_t> passes_per_rank);

  std::vector<double> gather(const std::vector<double>& mine, int64_t width) override;

 private:
  comm::Communicator& communicator_;
  std::vector<int64_t> passes_per_rank_;
};

}  // namespace lockstep::parallel
