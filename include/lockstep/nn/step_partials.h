// StepPartials: how a layer that normalises over the whole training step (BatchNorm) learns the
// per-pass sums of every pass of the step, on every rank. Each pass's sums are computed the
// same way wherever the pass runs, and every rank gets all of them in the order of the passes
// in the global batch; added one pass after the other (add_passes_in_order), they give the same
// bits on any number of ranks: what one process computes.
#pragma once

#include <cstdint>
#include <vector>

namespace lockstep::nn {

class StepPartials {
 public:
  virtual ~StepPartials() = default;
  // mine: `width` doubles for each of this rank's passes of the step, in pass order. Returns
  // `width` doubles for every pass of the step on every rank, in global pass order. Every rank
  // calls it at the same point of the step with the same width, also a rank without passes.
  virtual std::vector<double> gather(const std::vector<double>& mine, int64_t width) = 0;
};

// The passes of this process are the whole step.
class LocalStepPartials final : public StepPartials {
 public:
  std::vector<double> gather(const std::vector<double>& mine, int64_t width) override;
};

// Adds the rows of `width` doubles in `partials` one after the other, in double: the totals over
// the passes. Throws lockstep::Error unless partials holds whole rows.
std::vector<double> add_passes_in_order(const std::vector<double>& partials, int64_t width);

}  // namespace lockstep::nn
