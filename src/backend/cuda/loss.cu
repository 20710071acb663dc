// CUDA losses: softmax cross-entropy (class labels or probability targets), mean squared
// error and the accuracy count. One block per row writes the row's gradient and its loss (in
// double) to a workspace; one more block sums the rows in a fixed order, so the returned sum
// is bitwise the same from run to run. Only the sum travels back to the host.
#include <cmath>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_guard.h"
#include "backend/cuda/kernel_util.cuh"
#include "backend/op_checks.h"
#include "lockstep/base/error.h"

namespace lockstep::backend::cuda {

namespace {

constexpr unsigned long long kNoBadRow = ~0ull;

// What a loss call reads back: the sum, and the first row whose label is not a class.
struct LossResult {
  double sum;
  unsigned long long bad_row;
};

// The call's device workspace: a LossResult, then one value per row.
template <typename RowValue>
size_t workspace_bytes(int64_t rows) {
  static_assert(sizeof(LossResult) % alignof(RowValue) == 0);
  return sizeof(LossResult) + static_cast<size_t>(rows) * sizeof(RowValue);
}

// --- per-row softmax ------------------------------------------------------------------------

struct RowSoftmax {
  float max;       // the row's largest logit
  double log_sum;  // log(sum_j exp z_j), computed shifted by max
  float inv;       // 1 / sum_j exp(z_j - max), rounded to float as the CPU does
};

// Block-wide: the CPU's softmax_row, with the max and the double sum reduced over the block.
__device__ RowSoftmax row_softmax(const float* z, int64_t classes) {
  float max = z[0];
  for (int64_t j = threadIdx.x; j < classes; j += blockDim.x) max = MaxOp{}(max, z[j]);
  max = block_reduce(max, MaxOp{});
  double sum = 0.0;
  for (int64_t j = threadIdx.x; j < classes; j += blockDim.x) {
    sum += static_cast<double>(expf(z[j] - max));
  }
  sum = block_reduce(sum, SumOp{});
  return RowSoftmax{max, static_cast<double>(max) + log(sum), static_cast<float>(1.0 / sum)};
}

__device__ float softmax_probability(float z, const RowSoftmax& s) {
  return __fmul_rn(expf(z - s.max), s.inv);
}

// --- kernels --------------------------------------------------------------------------------

// Records the first row whose label is not an integer in [0, classes) (NaN included).
// atomicMin keeps the smallest row whatever order threads run in: the row the CPU names.
__global__ void check_labels_kernel(const float* labels, int64_t rows, float class_limit,
                                    unsigned long long* bad_row) {
  for (int64_t r = grid_first(); r < rows; r += grid_stride()) {
    const float value = labels[r];
    if (!(value >= 0.0f && value < class_limit && value == floorf(value))) {
      atomicMin(bad_row, static_cast<unsigned long long>(r));
    }
  }
}

// dlogits = softmax(logits) - onehot(label); row_loss = log_sum - z[label]. Writes nothing
// when a label was bad, so a rejected batch leaves dlogits untouched (as on the CPU).
__global__ void softmax_labels_kernel(const float* logits, const float* labels, float* dlogits,
                                      double* row_loss, int64_t rows, int64_t classes,
                                      const unsigned long long* bad_row) {
  if (*bad_row != kNoBadRow) return;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* z = logits + r * classes;
    float* d = dlogits + r * classes;
    const RowSoftmax s = row_softmax(z, classes);
    const int64_t label = static_cast<int64_t>(labels[r]);
    for (int64_t j = threadIdx.x; j < classes; j += blockDim.x) {
      const float p = softmax_probability(z[j], s);
      d[j] = j == label ? __fsub_rn(p, 1.0f) : p;
    }
    if (threadIdx.x == 0) row_loss[r] = s.log_sum - static_cast<double>(z[label]);
  }
}

// dlogits = softmax(logits) - targets; row_loss = sum_j t_j (log_sum - z_j) over t_j != 0.
__global__ void softmax_targets_kernel(const float* logits, const float* targets, float* dlogits,
                                       double* row_loss, int64_t rows, int64_t classes) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* z = logits + r * classes;
    const float* t = targets + r * classes;
    float* d = dlogits + r * classes;
    const RowSoftmax s = row_softmax(z, classes);
    double loss = 0.0;
    for (int64_t j = threadIdx.x; j < classes; j += blockDim.x) {
      const float zj = z[j], tj = t[j];
      if (tj != 0.0f) loss += static_cast<double>(tj) * (s.log_sum - static_cast<double>(zj));
      d[j] = __fsub_rn(softmax_probability(zj, s), tj);
    }
    loss = block_reduce(loss, SumOp{});
    if (threadIdx.x == 0) row_loss[r] = loss;
  }
}

// dpred = (2 / cols) (pred - target); row_loss = mean over cols of (pred - target)^2.
__global__ void mean_squared_error_kernel(const float* pred, const float* target, float* dpred,
                                          double* row_loss, int64_t rows, int64_t cols,
                                          float grad_scale) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    double sum = 0.0;
    for (int64_t j = r * cols + threadIdx.x; j < (r + 1) * cols; j += blockDim.x) {
      const float diff = __fsub_rn(pred[j], target[j]);
      sum += static_cast<double>(diff) * diff;
      dpred[j] = __fmul_rn(grad_scale, diff);
    }
    sum = block_reduce(sum, SumOp{});
    if (threadIdx.x == 0) row_loss[r] = sum / static_cast<double>(cols);
  }
}

// correct[r] = 1 when the row's first maximum is its label. The CPU scans with
// `z[j] > z[best]` from best = 0, so a NaN never becomes the maximum, and a NaN in column 0
// stays the answer; the block reduces the non-NaN columns and applies that rule.
__global__ void count_correct_kernel(const float* logits, const float* labels,
                                     unsigned long long* correct, int64_t rows, int64_t classes) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* z = logits + r * classes;
    ArgMax best{-INFINITY, INT64_MAX};
    for (int64_t j = threadIdx.x; j < classes; j += blockDim.x) {
      if (!isnan(z[j])) best = ArgMaxOp{}(best, ArgMax{z[j], j});
    }
    best = block_reduce(best, ArgMaxOp{});
    if (threadIdx.x == 0) {
      const int64_t index = isnan(z[0]) ? 0 : best.index;
      correct[r] = static_cast<float>(index) == labels[r] ? 1ull : 0ull;
    }
  }
}

// The deferred loss's last kernel (one thread, so in stream order with every other call):
// adds the call's sum and correct count into the step's totals, or records its first bad
// label there instead.
__global__ void add_to_totals_kernel(const LossResult* result, const unsigned long long* correct,
                                     const float* labels, int64_t classes, int64_t first_row,
                                     LossTotals* totals) {
  if (result->bad_row != kNoBadRow) {
    if (totals->bad_row < 0) {
      totals->bad_row = first_row + static_cast<int64_t>(result->bad_row);
      totals->bad_label = labels[result->bad_row];
      totals->classes = classes;
    }
    return;
  }
  totals->sum += result->sum;
  totals->correct += static_cast<int64_t>(*correct);
}

// Queues the label check, the softmax and the sum of a labels call: result->sum and
// result->bad_row; `workspace` is workspace_bytes<double>(rows) long.
LossResult* launch_softmax_labels(const float* logits, const float* labels, float* dlogits,
                                  int64_t rows, int64_t classes, void* workspace,
                                  cudaStream_t stream) {
  auto* result = static_cast<LossResult*>(workspace);
  auto* row_loss = reinterpret_cast<double*>(result + 1);
  LOCKSTEP_CUDA_CHECK(cudaMemsetAsync(&result->bad_row, 0xFF, sizeof(result->bad_row), stream));
  check_labels_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(
      labels, rows, static_cast<float>(classes), &result->bad_row);
  LOCKSTEP_CUDA_CHECK_LAUNCH(check_labels_kernel);
  softmax_labels_kernel<<<row_blocks(rows), threads_for_row(classes), 0, stream>>>(
      logits, labels, dlogits, row_loss, rows, classes, &result->bad_row);
  LOCKSTEP_CUDA_CHECK_LAUNCH(softmax_labels_kernel);
  sum_kernel<<<1, kThreads, 0, stream>>>(row_loss, rows, &result->sum);
  LOCKSTEP_CUDA_CHECK_LAUNCH(sum_kernel<double>);
  return result;
}

// Queues the count of rows whose first maximum is their label; returns where the count will
// be. `workspace` is workspace_bytes<unsigned long long>(rows) long.
unsigned long long* launch_count_correct(const float* logits, const float* labels, int64_t rows,
                                         int64_t classes, void* workspace, cudaStream_t stream) {
  auto* total = static_cast<unsigned long long*>(workspace);
  auto* correct = reinterpret_cast<unsigned long long*>(static_cast<LossResult*>(workspace) + 1);
  count_correct_kernel<<<row_blocks(rows), threads_for_row(classes), 0, stream>>>(
      logits, labels, correct, rows, classes);
  LOCKSTEP_CUDA_CHECK_LAUNCH(count_correct_kernel);
  sum_kernel<<<1, kThreads, 0, stream>>>(correct, rows, total);
  LOCKSTEP_CUDA_CHECK_LAUNCH(sum_kernel<unsigned long long>);
  return total;
}

}  // namespace

double CudaBackend::softmax_cross_entropy_labels(const float* logits, const float* labels,
                                                 float* dlogits, int64_t rows, int64_t classes) {
  check_classes(classes);
  if (rows <= 0) return 0.0;
  DeviceGuard guard(ordinal_);
  Scratch scratch(*this, workspace_bytes<double>(rows));
  const LossResult* result =
      launch_softmax_labels(logits, labels, dlogits, rows, classes, scratch.get(), stream_);
  LossResult host{};
  read_back(&host, result, sizeof(host));
  if (host.bad_row != kNoBadRow) {
    const auto row = static_cast<int64_t>(host.bad_row);
    float value = 0.0f;
    read_back(&value, labels + row, sizeof(value));
    throw_bad_label(row, value, classes);
  }
  return host.sum;
}

double CudaBackend::softmax_cross_entropy_targets(const float* logits, const float* targets,
                                                  float* dlogits, int64_t rows, int64_t classes) {
  check_classes(classes);
  if (rows <= 0) return 0.0;
  DeviceGuard guard(ordinal_);
  Scratch scratch(*this, workspace_bytes<double>(rows));
  auto* result = static_cast<LossResult*>(scratch.get());
  auto* row_loss = reinterpret_cast<double*>(result + 1);
  softmax_targets_kernel<<<row_blocks(rows), threads_for_row(classes), 0, stream_>>>(
      logits, targets, dlogits, row_loss, rows, classes);
  LOCKSTEP_CUDA_CHECK_LAUNCH(softmax_targets_kernel);
  sum_kernel<<<1, kThreads, 0, stream_>>>(row_loss, rows, &result->sum);
  LOCKSTEP_CUDA_CHECK_LAUNCH(sum_kernel<double>);
  double sum = 0.0;
  read_back(&sum, &result->sum, sizeof(sum));
  return sum;
}

double CudaBackend::mean_squared_error(const float* pred, const float* target, float* dpred,
                                       int64_t rows, int64_t cols) {
  LOCKSTEP_CHECK(cols > 0, "mean_squared_error: needs at least one column, found " << cols);
  if (rows <= 0) return 0.0;
  const float grad_scale = 2.0f / static_cast<float>(cols);  // on the host, as the CPU does
  DeviceGuard guard(ordinal_);
  Scratch scratch(*this, workspace_bytes<double>(rows));
  auto* result = static_cast<LossResult*>(scratch.get());
  auto* row_loss = reinterpret_cast<double*>(result + 1);
  mean_squared_error_kernel<<<row_blocks(rows), threads_for_row(cols), 0, stream_>>>(
      pred, target, dpred, row_loss, rows, cols, grad_scale);
  LOCKSTEP_CUDA_CHECK_LAUNCH(mean_squared_error_kernel);
  sum_kernel<<<1, kThreads, 0, stream_>>>(row_loss, rows, &result->sum);
  LOCKSTEP_CUDA_CHECK_LAUNCH(sum_kernel<double>);
  double sum = 0.0;
  read_back(&sum, &result->sum, sizeof(sum));
  return sum;
}

int64_t CudaBackend::count_correct(const float* logits, const float* labels, int64_t rows,
                                   int64_t classes) {
  check_classes(classes);
  if (rows <= 0) return 0;
  DeviceGuard guard(ordinal_);
  Scratch scratch(*this, workspace_bytes<unsigned long long>(rows));
  const unsigned long long* total =
      launch_count_correct(logits, labels, rows, classes, scratch.get(), stream_);
  unsigned long long count = 0;
  read_back(&count, total, sizeof(count));
  return static_cast<int64_t>(count);
}

// As softmax_cross_entropy_labels and count_correct, with nothing read back: the results go
// into *totals by add_to_totals_kernel, behind the loss kernels on the stream.
void CudaBackend::softmax_cross_entropy_labels_into(const float* logits, const float* labels,
                                                    float* dlogits, int64_t rows, int64_t classes,
                                                    int64_t first_row, LossTotals* totals) {
  check_classes(classes);
  if (rows <= 0) return;
  DeviceGuard guard(ordinal_);
  const Scratch loss_scratch(*this, workspace_bytes<double>(rows));
  const Scratch correct_scratch(*this, workspace_bytes<unsigned long long>(rows));
  const LossResult* result =
      launch_softmax_labels(logits, labels, dlogits, rows, classes, loss_scratch.get(), stream_);
  const unsigned long long* correct_total =
      launch_count_correct(logits, labels, rows, classes, correct_scratch.get(), stream_);
  add_to_totals_kernel<<<1, 1, 0, stream_>>>(result, correct_total, labels, classes, first_row,
                                             totals);
  LOCKSTEP_CUDA_CHECK_LAUNCH(add_to_totals_kernel);
}

}  // namespace lockstep::backend::cuda
