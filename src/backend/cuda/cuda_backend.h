// CudaBackend: the Backend op set on one GPU, cuBLAS for GEMM and Lockstep's own kernels for
// the rest, each with the semantics of its CPU twin (src/backend/cpu/), against which the GPU
// tests check it. Its methods are defined across the files of this folder, one concern per
// file, as the CPU backend's are.
//
// Ordering: every op of a device runs on that device's one compute stream, stream(), in the
// order it was called; methods that hand values to the host (losses, count_correct,
// copy_to_host, copy_from_host) wait for it, the others return at once (synchronize() waits).
// Memory comes from a caching allocator, so a block freed on the host is reused only by ops
// queued behind its last use on the same stream.
//
// Reductions (bias gradients, loss sums) never use atomics: each sum has a fixed order, so
// results are bitwise the same from run to run. (The one atomic, atomicMin over the rows with
// a bad label, is order-free.) The elementwise ops, im2col/col2im, pooling, bias adds, the
// row bias gradient and the optimizer updates round each operation where the CPU code does (no
// fused multiply-add) and add in its order, so they match a CPU build without FMA bit for bit;
// GEMM, the transcendental functions and the block sums differ by float rounding.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <mutex>

#include "backend/caching_allocator.h"
#include "lockstep/backend/backend.h"

namespace lockstep::backend::cuda {

class CudaBackend final : public Backend {
 public:
  // Creates the compute stream and cuBLAS handle on GPU `ordinal` (which must exist).
  explicit CudaBackend(int ordinal);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  Device device() const override { return Device::cuda(ordinal_); }
  int ordinal() const { return ordinal_; }
  // The non-blocking stream every op of this device runs on. Code with streams of its own
  // (the NCCL communicator) orders itself after this one with events.
  cudaStream_t stream() const { return stream_; }
  AllocatorStats allocator_stats() const { return device_allocator_.stats(); }
  AllocatorStats pinned_allocator_stats() const { return pinned_allocator_.stats(); }

  // GEMM precision, process-wide. By default GEMM is plain FP32: cuBLAS runs with
  // CUBLAS_DEFAULT_MATH and CUBLAS_COMPUTE_32F_PEDANTIC, so results stay within float rounding
  // of the CPU's. TF32 is opt-in (set_allow_tf32(true), or LOCKSTEP_ALLOW_TF32=1 in the
  // environment, read once): cuBLAS then uses CUBLAS_TF32_TENSOR_OP_MATH and
  // CUBLAS_COMPUTE_32F_FAST_TF32, several times faster on tensor cores but with inputs rounded
  // to 10 mantissa bits (relative error about 1e-3).
  static void set_allow_tf32(bool allow);
  static bool allow_tf32();

  // memory.cpp
  void* allocate(size_t bytes) override;
  void deallocate(void* pointer, size_t bytes) noexcept override;
  void copy_to_host(void* host_dst, const void* device_src, size_t bytes) override;
  void copy_from_host(void* device_dst, const void* host_src, size_t bytes) override;
  void copy(void* dst, const void* src, size_t bytes) override;
  void copy_rows(float* dst, int64_t dst_stride, const float* src, int64_t src_stride, int64_t rows,
                 int64_t cols) override;
  void* allocate_pinned(size_t bytes) override;
  void deallocate_pinned(void* pointer, size_t bytes) noexcept override;
  void synchronize() override;

  // elementwise.cu
  void fill(float* x, int64_t n, float value) override;
  void scale(float* x, int64_t n, float alpha) override;
  void axpy(int64_t n, float alpha, const float* x, float* y) override;
  void multiply(const float* a, const float* b, float* y, int64_t n) override;
  void accumulate_double(const float* x, double* sums, int64_t n) override;
  void fill_double(double* x, int64_t n, double value) override;
  void round_to_float(const double* sums, float* y, int64_t n) override;
  void activation_forward(Activation kind, const float* x, float* y, int64_t n) override;
  void activation_backward(Activation kind, const float* x, const float* y, const float* dy,
                           float* dx, int64_t n) override;
  void dropout_forward(const float* x, float* y, float* mask, int64_t rows, int64_t cols,
                       float rate, const DropoutKey& key) override;

  // dense.cu
  void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
            const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
            int64_t ldc) override;
  void add_bias_rows(float* y, const float* bias, int64_t rows, int64_t cols) override;
  void bias_grad_rows(const float* dy, float* dbias, int64_t rows, int64_t cols) override;
  void add_bias_channels(float* y, const float* bias, int64_t batch, int64_t channels,
                         int64_t spatial) override;
  void bias_grad_channels(const float* dy, float* dbias, int64_t batch, int64_t channels,
                          int64_t spatial) override;

  // loss.cu
  double softmax_cross_entropy_labels(const float* logits, const float* labels, float* dlogits,
                                      int64_t rows, int64_t classes) override;
  double softmax_cross_entropy_targets(const float* logits, const float* targets, float* dlogits,
                                       int64_t rows, int64_t classes) override;
  double mean_squared_error(const float* pred, const float* target, float* dpred, int64_t rows,
                            int64_t cols) override;
  int64_t count_correct(const float* logits, const float* labels, int64_t rows,
                        int64_t classes) override;
  void softmax_cross_entropy_labels_into(const float* logits, const float* labels, float* dlogits,
                                         int64_t rows, int64_t classes, int64_t first_row,
                                         LossTotals* totals) override;

  // conv.cu
  void im2col(const float* image, const ConvGeometry& g, float* columns) override;
  void col2im(const float* columns, const ConvGeometry& g, float* image) override;
  // Several images per GEMM (as many as kConvColumnFloats of columns hold): one image per
  // GEMM would launch thousands of small kernels per batch.
  void conv2d_forward(const float* x, int64_t batch, const ConvGeometry& g, int64_t filters,
                      const float* weight, const float* bias, float* y) override;
  void conv2d_backward(const float* x, const float* dy, int64_t batch, const ConvGeometry& g,
                       int64_t filters, const float* weight, float* dweight, float* dx) override;
  // The most column entries one pass of conv2d_forward/backward unfolds (64 MiB of floats).
  static constexpr int64_t kConvColumnFloats = int64_t{1} << 24;

  // pool.cu
  void max_pool_forward(const float* x, float* y, int64_t batch, const PoolGeometry& g) override;
  void max_pool_backward(const float* x, const float* dy, float* dx, int64_t batch,
                         const PoolGeometry& g) override;
  void avg_pool_forward(const float* x, float* y, int64_t batch, const PoolGeometry& g) override;
  void avg_pool_backward(const float* dy, float* dx, int64_t batch, const PoolGeometry& g) override;

  // optimizer.cu
  void sgd_update(float* param, const float* grad, float* velocity, int64_t n,
                  const SgdUpdate& u) override;
  void rmsprop_update(float* param, const float* grad, float* mean_square, int64_t n,
                      const RmspropUpdate& u) override;
  void adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                   const AdamUpdate& u) override;

  // depthwise_conv.cu
  void depthwise_conv2d_forward(const float* x, int64_t batch, const ConvGeometry& g,
                                int64_t multiplier, const float* weight, const float* bias,
                                float* y) override;
  void depthwise_conv2d_backward(const float* x, const float* dy, int64_t batch,
                                 const ConvGeometry& g, int64_t multiplier, const float* weight,
                                 float* dweight, float* dx) override;

  // layer_norm.cu
  void layer_norm_forward(const float* x, const float* weight, const float* bias, float* y,
                          float* mean, float* rstd, int64_t rows, int64_t cols, float eps) override;
  void layer_norm_backward(const float* x, const float* dy, const float* weight, const float* mean,
                           const float* rstd, float* dx, float* dweight, float* dbias, int64_t rows,
                           int64_t cols) override;

  // batch_norm.cu
  void batch_norm_sums(const float* x, int64_t batch, int64_t channels, int64_t spatial,
                       double* sums) override;
  void batch_norm_forward(const float* x, const float* mean, const float* rstd, const float* weight,
                          const float* bias, float* y, int64_t batch, int64_t channels,
                          int64_t spatial) override;
  void batch_norm_backward_sums(const float* x, const float* dy, const float* mean,
                                const float* rstd, int64_t batch, int64_t channels, int64_t spatial,
                                double* sums) override;
  void batch_norm_backward_input(const float* x, const float* dy, const float* mean,
                                 const float* rstd, const float* weight, const float* mean_dy,
                                 const float* mean_dy_xhat, float* dx, int64_t batch,
                                 int64_t channels, int64_t spatial) override;

 private:
  // conv.cu: im2col/col2im of `count` consecutive images (columns [patch, count*spatial]),
  // y[j, i, :] = x[i, j, :] for x [a, b, inner], and how many images one pass unfolds.
  void unfold(const float* images, int64_t count, const ConvGeometry& g, float* columns);
  void fold(const float* columns, int64_t count, const ConvGeometry& g, float* images);
  void swap_leading_axes(const float* x, int64_t a, int64_t b, int64_t inner, float* y);
  static int64_t conv_images_per_pass(const ConvGeometry& g, int64_t batch);

  // Copies `bytes` from the device to the host and waits for them (and all earlier ops).
  void read_back(void* host_dst, const void* device_src, size_t bytes);

  int ordinal_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  std::mutex cublas_mutex_;  // the handle's math mode is set per call: one caller at a time
  CachingAllocator device_allocator_;
  CachingAllocator pinned_allocator_;
};

// The backend of GPU `ordinal`, made on first use (thread-safe) and kept for the life of the
// process. Throws lockstep::Error saying how many GPUs answer when `ordinal` is out of range.
CudaBackend& cuda_backend(int ordinal);

}  // namespace lockstep::backend::cuda
