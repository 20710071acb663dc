// CpuBackend: the reference implementation of every op, on host memory (OpenBLAS for GEMM).
// Its methods are defined across the files of this folder, one concern per file.
#pragma once

#include "backend/caching_allocator.h"
#include "lockstep/backend/backend.h"

namespace lockstep::backend::cpu {

class CpuBackend final : public Backend {
 public:
  CpuBackend();
  Device device() const override { return Device::cpu(); }
  AllocatorStats allocator_stats() const { return allocator_.stats(); }

  // memory.cpp
  void* allocate(size_t bytes) override;
  void deallocate(void* pointer, size_t bytes) noexcept override;
  void copy_to_host(void* host_dst, const void* device_src, size_t bytes) override;
  void copy_from_host(void* device_dst, const void* host_src, size_t bytes) override;
  void copy(void* dst, const void* src, size_t bytes) override;
  void copy_rows(float* dst, int64_t dst_stride, const float* src, int64_t src_stride, int64_t rows,
                 int64_t cols) override;
  void* allocate_pinned(size_t bytes) override { return allocate(bytes); }
  void deallocate_pinned(void* pointer, size_t bytes) noexcept override {
    deallocate(pointer, bytes);
  }
  void synchronize() override {}

  // elementwise.cpp
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

  // dense.cpp
  void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
            const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
            int64_t ldc) override;
  void add_bias_rows(float* y, const float* bias, int64_t rows, int64_t cols) override;
  void bias_grad_rows(const float* dy, float* dbias, int64_t rows, int64_t cols) override;
  void add_bias_channels(float* y, const float* bias, int64_t batch, int64_t channels,
                         int64_t spatial) override;
  void bias_grad_channels(const float* dy, float* dbias, int64_t batch, int64_t channels,
                          int64_t spatial) override;

  // loss.cpp
  double softmax_cross_entropy_labels(const float* logits, const float* labels, float* dlogits,
                                      int64_t rows, int64_t classes) override;
  double softmax_cross_entropy_targets(const float* logits, const float* targets, float* dlogits,
                                       int64_t rows, int64_t classes) override;
  double mean_squared_error(const float* pred, const float* target, float* dpred, int64_t rows,
                            int64_t cols) override;
  int64_t count_correct(const float* logits, const float* labels, int64_t rows,
                        int64_t classes) override;

  // conv.cpp
  void im2col(const float* image, const ConvGeometry& g, float* columns) override;
  void col2im(const float* columns, const ConvGeometry& g, float* image) override;

  // pool.cpp
  void max_pool_forward(const float* x, float* y, int64_t batch, const PoolGeometry& g) override;
  void max_pool_backward(const float* x, const float* dy, float* dx, int64_t batch,
                         const PoolGeometry& g) override;
  void avg_pool_forward(const float* x, float* y, int64_t batch, const PoolGeometry& g) override;
  void avg_pool_backward(const float* dy, float* dx, int64_t batch, const PoolGeometry& g) override;

  // optimizer.cpp
  void sgd_update(float* param, const float* grad, float* velocity, int64_t n,
                  const SgdUpdate& u) override;
  void rmsprop_update(float* param, const float* grad, float* mean_square, int64_t n,
                      const RmspropUpdate& u) override;
  void adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                   const AdamUpdate& u) override;

  // depthwise_conv.cpp
  void depthwise_conv2d_forward(const float* x, int64_t batch, const ConvGeometry& g,
                                int64_t multiplier, const float* weight, const float* bias,
                                float* y) override;
  void depthwise_conv2d_backward(const float* x, const float* dy, int64_t batch,
                                 const ConvGeometry& g, int64_t multiplier, const float* weight,
                                 float* dweight, float* dx) override;

  // layer_norm.cpp
  void layer_norm_forward(const float* x, const float* weight, const float* bias, float* y,
                          float* mean, float* rstd, int64_t rows, int64_t cols, float eps) override;
  void layer_norm_backward(const float* x, const float* dy, const float* weight, const float* mean,
                           const float* rstd, float* dx, float* dweight, float* dbias, int64_t rows,
                           int64_t cols) override;

  // batch_norm.cpp
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
  CachingAllocator allocator_;
};

}  // namespace lockstep::backend::cpu
