// Synthetic classification data for examples, benchmarks and tests: random inputs with labels
// from a fixed random linear "teacher", so the task is learnable; a pure function of the seed.
#pragma once

#include <cstdint>

#include "lockstep/base/shape.h"
#include "lockstep/data/dataset.h"

namespace lockstep::data {

// `num_samples` inputs of `sample_shape`, uniform in [0, 1) from Philox keyed by (seed,
// sample, element), and labels [N] = argmax_c W_c . (x - 1/2) for a teacher W [classes,
// features] drawn from the seed (small integers, so the argmax is exact on every machine;
// ties go to the smaller class). Throws lockstep::Error for num_samples < 0, an empty or
// larger-than-2^31-element sample shape, or classes outside 1 to 2^24.
Dataset make_synthetic(int64_t num_samples, const Shape& sample_shape, int64_t classes,
                       uint64_t seed);

}  // namespace lockstep::data
