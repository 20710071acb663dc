// LocalStepPartials and the one summation order of a step's per-pass sums.
#include "lockstep/nn/step_partials.h"

#include "lockstep/base/error.h"

namespace lockstep::nn {

namespace {

void check_rows(const std::vector<double>& partials, int64_t width) {
  LOCKSTEP_CHECK(width > 0 && static_cast<int64_t>(partials.size()) % width == 0,
                 "step partials: expected whole passes of " << width << " sums, found "
                                                            << partials.size() << " values");
}

}  // namespace

std::vector<double> add_passes_in_order(const std::vector<double>& partials, int64_t width) {
  check_rows(partials, width);
  std::vector<double> totals(static_cast<size_t>(width), 0.0);
  for (size_t at = 0; at < partials.size(); at += static_cast<size_t>(width)) {
    for (size_t i = 0; i < totals.size(); ++i) totals[i] += partials[at + i];
  }
  return totals;
}

std::vector<double> LocalStepPartials::gather(const std::vector<double>& mine, int64_t width) {
  check_rows(mine, width);
  return mine;
}

}  // namespace lockstep::nn
