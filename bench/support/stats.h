// Summary statistics of benchmark samples (times, rates): median, mean, percentiles. The
// benchmarks report medians because a shared machine adds rare long outliers that would
// move a mean.
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "lockstep/base/error.h"

namespace lockstep::bench {

// The q-quantile (q in [0, 1]) by linear interpolation between order statistics, as numpy's
// default; q = 0.5 is the median.
inline double quantile(std::vector<double> values, double q) {
  LOCKSTEP_CHECK(!values.empty(), "quantile: expected at least one value, found none");
  LOCKSTEP_CHECK(q >= 0.0 && q <= 1.0, "quantile: expected q in [0, 1], found " << q);
  std::sort(values.begin(), values.end());
  const double position = q * static_cast<double>(values.size() - 1);
  const auto below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(below + 1, values.size() - 1);
  const double weight = position - static_cast<double>(below);
  return values[below] + weight * (values[above] - values[below]);
}

inline double median(const std::vector<double>& values) { return quantile(values, 0.5); }

inline double mean(const std::vector<double>& values) {
  LOCKSTEP_CHECK(!values.empty(), "mean: expected at least one value, found none");
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

}  // namespace lockstep::bench
