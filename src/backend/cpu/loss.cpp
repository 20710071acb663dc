// CPU losses: softmax cross-entropy (class labels or probability targets), mean squared error
// and the accuracy count. Each returns the SUM over rows and writes the gradient of that sum.
#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "backend/op_checks.h"
#include "lockstep/base/error.h"

namespace lockstep::backend::cpu {

namespace {

// Writes softmax(z) to p for one row and returns log(sum exp z), shifted by the row max so
// no exp overflows whatever the logits' magnitude.
double softmax_row(const float* z, float* p, int64_t classes) {
  float max = z[0];
  for (int64_t j = 1; j < classes; ++j) max = z[j] > max ? z[j] : max;
  double sum = 0.0;
  for (int64_t j = 0; j < classes; ++j) {
    const float e = std::exp(z[j] - max);
    p[j] = e;
    sum += e;
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < classes; ++j) p[j] *= inv;
  return static_cast<double>(max) + std::log(sum);
}

// The class index held by labels[row], checked to be an integer in [0, classes).
int64_t checked_label(const float* labels, int64_t row, int64_t classes) {
  const float value = labels[row];
  if (!(value >= 0.0f && value < static_cast<float>(classes) && value == std::floor(value))) {
    throw_bad_label(row, value, classes);
  }
  return static_cast<int64_t>(value);
}

}  // namespace

double CpuBackend::softmax_cross_entropy_labels(const float* logits, const float* labels,
                                                float* dlogits, int64_t rows, int64_t classes) {
  check_classes(classes);
  // Validate every label before writing anything, so a bad batch leaves dlogits untouched.
  for (int64_t r = 0; r < rows; ++r) checked_label(labels, r, classes);
  double loss = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * classes;
    float* d = dlogits + r * classes;
    const int64_t label = checked_label(labels, r, classes);
    loss += softmax_row(z, d, classes) - z[label];
    d[label] -= 1.0f;
  }
  return loss;
}

double CpuBackend::softmax_cross_entropy_targets(const float* logits, const float* targets,
                                                 float* dlogits, int64_t rows, int64_t classes) {
  check_classes(classes);
  double loss = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * classes;
    const float* t = targets + r * classes;
    float* d = dlogits + r * classes;
    const double log_sum = softmax_row(z, d, classes);
    // -sum_j t_j log p_j = sum_j t_j (log_sum - z_j); zero-weight classes add nothing.
    for (int64_t j = 0; j < classes; ++j) {
      if (t[j] != 0.0f) loss += static_cast<double>(t[j]) * (log_sum - z[j]);
      d[j] -= t[j];
    }
  }
  return loss;
}

double CpuBackend::mean_squared_error(const float* pred, const float* target, float* dpred,
                                      int64_t rows, int64_t cols) {
  LOCKSTEP_CHECK(cols > 0, "mean_squared_error: needs at least one column, found " << cols);
  const float grad_scale = 2.0f / static_cast<float>(cols);
  double loss = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    double row_sum = 0.0;
    for (int64_t j = r * cols; j < (r + 1) * cols; ++j) {
      const float diff = pred[j] - target[j];
      row_sum += static_cast<double>(diff) * diff;
      dpred[j] = grad_scale * diff;
    }
    loss += row_sum / static_cast<double>(cols);
  }
  return loss;
}

int64_t CpuBackend::count_correct(const float* logits, const float* labels, int64_t rows,
                                  int64_t classes) {
  check_classes(classes);
  int64_t correct = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * classes;
    int64_t best = 0;
    for (int64_t j = 1; j < classes; ++j) best = z[j] > z[best] ? j : best;
    correct += static_cast<float>(best) == labels[r] ? 1 : 0;
  }
  return correct;
}

}  // namespace lockstep::backend::cpu
