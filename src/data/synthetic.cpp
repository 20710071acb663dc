// Synthetic data: Philox inputs on the 2^-24 grid and an integer teacher, so labels are
// computed exactly in int64 and do not depend on floating-point contraction or summation order.
#include "lockstep/data/synthetic.h"

#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/base/philox.h"

namespace lockstep::data {

namespace {

constexpr uint32_t kInputsTag = 0x494E5055u;   // "INPU"
constexpr uint32_t kTeacherTag = 0x54454143u;  // "TEAC"
constexpr int64_t kMaxFeatures = int64_t{1} << 31;
constexpr int64_t kMaxClasses = int64_t{1} << 24;
constexpr int64_t kMaxTeacherBytes = int64_t{1} << 30;

philox::Key key_for(uint64_t seed) {
  return philox::Key{{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)}};
}

// Teacher weights [classes, features], integers in [-128, 127].
std::vector<int8_t> teacher_weights(int64_t classes, int64_t features, uint64_t seed) {
  std::vector<int8_t> w(static_cast<size_t>(classes * features));
  for (int64_t c = 0; c < classes; ++c) {
    for (int64_t f = 0; f < features; f += 4) {
      const philox::Counter counter{
          {static_cast<uint32_t>(f / 4), static_cast<uint32_t>(c), 0, kTeacherTag}};
      const philox::Counter words = philox::philox4x32_10(counter, key_for(seed));
      for (int64_t k = 0; k < 4 && f + k < features; ++k) {
        w[static_cast<size_t>(c * features + f + k)] = static_cast<int8_t>(words.w[k] >> 24);
      }
    }
  }
  return w;
}

// Fills one sample with 24-bit grid values (kept as integers in `grid` for the teacher).
void draw_sample(uint64_t seed, int64_t sample, int64_t features, std::vector<int64_t>& grid,
                 float* x) {
  for (int64_t f = 0; f < features; f += 4) {
    const philox::Counter counter{{static_cast<uint32_t>(f / 4), static_cast<uint32_t>(sample),
                                   static_cast<uint32_t>(static_cast<uint64_t>(sample) >> 32),
                                   kInputsTag}};
    const philox::Counter words = philox::philox4x32_10(counter, key_for(seed));
    for (int64_t k = 0; k < 4 && f + k < features; ++k) {
      const uint32_t u = words.w[k] >> 8;
      grid[static_cast<size_t>(f + k)] = 2 * static_cast<int64_t>(u) - (int64_t{1} << 24);
      x[f + k] = philox::to_unit_float(words.w[k]);
    }
  }
}

// argmax_c sum_f w[c, f] * grid[f]; |each term| <= 2^31 and features <= 2^31, so no overflow.
int64_t teacher_label(const std::vector<int8_t>& w, const std::vector<int64_t>& grid,
                      int64_t classes, int64_t features) {
  int64_t best = 0, best_score = 0;
  for (int64_t c = 0; c < classes; ++c) {
    const int8_t* row = w.data() + c * features;
    int64_t score = 0;
    for (int64_t f = 0; f < features; ++f) score += row[f] * grid[static_cast<size_t>(f)];
    if (c == 0 || score > best_score) {
      best = c;
      best_score = score;
    }
  }
  return best;
}

}  // namespace

Dataset make_synthetic(int64_t num_samples, const Shape& sample_shape, int64_t classes,
                       uint64_t seed) {
  LOCKSTEP_CHECK(num_samples >= 0,
                 "make_synthetic: expected num_samples >= 0, found " << num_samples);
  const int64_t features = shape_numel(sample_shape);
  LOCKSTEP_CHECK(features >= 1 && features <= kMaxFeatures,
                 "make_synthetic: sample shape " << to_string(sample_shape) << " has " << features
                                                 << " elements, expected 1 to 2^31");
  LOCKSTEP_CHECK(classes >= 1 && classes <= kMaxClasses,
                 "make_synthetic: expected 1 to 2^24 classes, found " << classes);
  LOCKSTEP_CHECK(classes <= kMaxTeacherBytes / features, "make_synthetic: a teacher of "
                                                             << classes << " classes by "
                                                             << features << " features exceeds "
                                                             << kMaxTeacherBytes << " weights");
  Shape input_shape{num_samples};
  input_shape.insert(input_shape.end(), sample_shape.begin(), sample_shape.end());
  Tensor inputs = Tensor::empty(input_shape);
  Tensor labels = Tensor::empty({num_samples});
  const std::vector<int8_t> w = teacher_weights(classes, features, seed);
  std::vector<int64_t> grid(static_cast<size_t>(features));
  for (int64_t i = 0; i < num_samples; ++i) {
    draw_sample(seed, i, features, grid, inputs.data() + i * features);
    labels.data()[i] = static_cast<float>(teacher_label(w, grid, classes, features));
  }
  return Dataset(inputs, labels);
}

}  // namespace lockstep::data
