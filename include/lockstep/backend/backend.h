// Backend: the op set of one kind of device, on raw pointers into that device's memory.
// Layers and optimizers validate shapes on Tensors, then call backend_for(tensor.device())
// with pointers and extents. The CPU backend (src/backend/cpu/) is the reference; the CUDA
// backend implements the same signatures and is tested against it.
//
// Conventions for every method: arrays are dense row-major float32; "rows" is the batch
// dimension; images are NCHW. Outputs are overwritten unless the name says "accumulate".
// Losses return the SUM over rows and write the gradient of that sum (never a mean).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "lockstep/base/device.h"

namespace lockstep::backend {

enum class Activation { kRelu, kTanh, kSigmoid, kGelu };

// Geometry of a 2-D convolution over one image [channels, height, width].
struct ConvGeometry {
  int64_t channels = 0, height = 0, width = 0;
  int64_t kernel_h = 0, kernel_w = 0;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;

  int64_t out_h() const { return (height + 2 * pad_h - kernel_h) / stride_h + 1; }
  int64_t out_w() const { return (width + 2 * pad_w - kernel_w) / stride_w + 1; }
  // Rows of the im2col matrix: channels * kernel_h * kernel_w.
  int64_t patch_size() const { return channels * kernel_h * kernel_w; }
};

// Geometry of a pooling window over images [batch, channels, height, width] (no padding).
struct PoolGeometry {
  int64_t channels = 0, height = 0, width = 0;
  int64_t pool_h = 2, pool_w = 2;
  int64_t stride_h = 2, stride_w = 2;

  int64_t out_h() const { return (height - pool_h) / stride_h + 1; }
  int64_t out_w() const { return (width - pool_w) / stride_w + 1; }
};

// What a dropout mask is keyed by (docs/ARCHITECTURE.md, "noise keyed by data"): row i of the call
// is sample first_sample + i of the global batch of training step `step`; `stream` separates the
// dropout layers of one model.
struct DropoutKey {
  uint64_t seed = 0;
  uint32_t stream = 0;
  uint64_t step = 0;
  int64_t first_sample = 0;
};

// Hyperparameters of one fused optimizer update. `grad_scale` multiplies the raw gradient
// first (the trainer passes 1/global_batch, turning SUM-gradients into mean gradients).
struct SgdUpdate {
  float lr = 0.01f, momentum = 0.0f, weight_decay = 0.0f, grad_scale = 1.0f;
  bool nesterov = false;
};
struct RmspropUpdate {
  float lr = 0.001f, rho = 0.9f, epsilon = 1e-7f, weight_decay = 0.0f, grad_scale = 1.0f;
};
struct AdamUpdate {
  float lr = 0.001f, beta1 = 0.9f, beta2 = 0.999f, epsilon = 1e-8f, weight_decay = 0.0f;
  float grad_scale = 1.0f;
  bool decoupled_weight_decay = false;  // AdamW when true
  int64_t step = 1;                     // 1 on the first update (bias correction)
};

// Running totals of a step's classification loss, kept in a backend's memory (on a GPU, in
// device memory) so that adding a pass into them need not wait for the device.
struct LossTotals {
  double sum = 0.0;        // loss summed over every row added
  int64_t correct = 0;     // rows whose first maximum is their label
  int64_t bad_row = -1;    // the first row added whose label is not a class, or -1
  float bad_label = 0.0f;  // that row's label
  int64_t classes = 0;     // and the number of classes it was checked against
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;

  // --- memory -------------------------------------------------------------------------
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* pointer, size_t bytes) noexcept = 0;
  virtual void copy_to_host(void* host_dst, const void* device_src, size_t bytes) = 0;
  virtual void copy_from_host(void* device_dst, const void* host_src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;
  // Copies `rows` rows of `cols` floats, row r from src + r * src_stride to dst + r * dst_stride
  // (strides in floats, at least cols; the two blocks must not overlap): a column block of one
  // row-major matrix into another, as Concatenate moves its inputs.
  virtual void copy_rows(float* dst, int64_t dst_stride, const float* src, int64_t src_stride,
                         int64_t rows, int64_t cols) = 0;
  // Host memory the device can copy to and from without staging (page-locked on CUDA; plain
  // aligned memory on the CPU). Freed with deallocate_pinned.
  virtual void* allocate_pinned(size_t bytes) = 0;
  virtual void deallocate_pinned(void* pointer, size_t bytes) noexcept = 0;
  // Waits until every op issued so far has finished (ops may run asynchronously on a
  // device; methods that return values or copy to the host wait by themselves).
  virtual void synchronize() = 0;

  // --- elementwise ---------------------------------------------------------------------
  virtual void fill(float* x, int64_t n, float value) = 0;
  virtual void scale(float* x, int64_t n, float alpha) = 0;                        // x *= alpha
  virtual void axpy(int64_t n, float alpha, const float* x, float* y) = 0;         // y += alpha*x
  virtual void multiply(const float* a, const float* b, float* y, int64_t n) = 0;  // y = a*b
  // Gradient accumulation in double (parallel::GradientBuckets): sums[i] += x[i], exact, so
  // the total of many passes does not depend on how they were grouped.
  virtual void accumulate_double(const float* x, double* sums, int64_t n) = 0;
  virtual void fill_double(double* x, int64_t n, double value) = 0;
  // y[i] = (float)sums[i], rounded to nearest.
  virtual void round_to_float(const double* sums, float* y, int64_t n) = 0;

  // --- dense algebra -------------------------------------------------------------------
  // C[m,n] = alpha * op(A) op(B) + beta * C, row-major; op(A) is [m,k], op(B) is [k,n];
  // lda/ldb/ldc are the row strides of A, B, C as stored.
  virtual void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                    int64_t ldc) = 0;
  // y[r, c] += bias[c]                               y: [rows, cols]
  virtual void add_bias_rows(float* y, const float* bias, int64_t rows, int64_t cols) = 0;
  // dbias[c] = sum_r dy[r, c]
  virtual void bias_grad_rows(const float* dy, float* dbias, int64_t rows, int64_t cols) = 0;
  // y[b, c, s] += bias[c]                            y: [batch, channels, spatial]
  virtual void add_bias_channels(float* y, const float* bias, int64_t batch, int64_t channels,
                                 int64_t spatial) = 0;
  // dbias[c] = sum_{b,s} dy[b, c, s]
  virtual void bias_grad_channels(const float* dy, float* dbias, int64_t batch, int64_t channels,
                                  int64_t spatial) = 0;

  // --- activations ---------------------------------------------------------------------
  // y = f(x). GELU is the exact erf form, as PyTorch's default.
  virtual void activation_forward(Activation kind, const float* x, float* y, int64_t n) = 0;
  // dx = f'(x) * dy; y = f(x) is given so ReLU/Tanh/Sigmoid need not recompute it.
  virtual void activation_backward(Activation kind, const float* x, const float* y, const float* dy,
                                   float* dx, int64_t n) = 0;

  // --- losses (SUM over rows; the gradient is that of the sum) ----------------------------
  // labels[r] holds a class index in [0, classes) stored as float; throws otherwise.
  // dlogits = softmax(logits) - onehot(labels). Stable for logits of any magnitude.
  virtual double softmax_cross_entropy_labels(const float* logits, const float* labels,
                                              float* dlogits, int64_t rows, int64_t classes) = 0;
  // targets[r, :] is a probability vector (one-hot or soft); dlogits = softmax - targets.
  virtual double softmax_cross_entropy_targets(const float* logits, const float* targets,
                                               float* dlogits, int64_t rows, int64_t classes) = 0;
  // Per row: mean over cols of (pred - target)^2 (Keras's MSE); returns the sum over rows.
  // dpred = 2 (pred - target) / cols.
  virtual double mean_squared_error(const float* pred, const float* target, float* dpred,
                                    int64_t rows, int64_t cols) = 0;
  // Rows whose argmax (first maximum) equals the label.
  virtual int64_t count_correct(const float* logits, const float* labels, int64_t rows,
                                int64_t classes) = 0;
  // softmax_cross_entropy_labels and count_correct of rows first_row.. of a step, added into
  // *totals (this backend's memory) instead of returned: a GPU does not wait for them. A call
  // with a label that is not a class records its row and label in totals, when none was
  // recorded before, and adds nothing. The default (the CPU's) calls the two above, which
  // throw on a bad label instead.
  virtual void softmax_cross_entropy_labels_into(const float* logits, const float* labels,
                                                 float* dlogits, int64_t rows, int64_t classes,
                                                 int64_t first_row, LossTotals* totals);

  // --- convolution helpers (one image) -----------------------------------------------------
  // columns: [patch_size, out_h*out_w]; zero where the window covers padding.
  virtual void im2col(const float* image, const ConvGeometry& g, float* columns) = 0;
  // image: [channels, height, width] = the sum of every column entry back into its pixel.
  virtual void col2im(const float* columns, const ConvGeometry& g, float* image) = 0;

  // --- convolution over a batch x [batch, channels, height, width] --------------------------
  // The defaults (conv2d.cpp) take one image at a time: im2col, then one GEMM with the weight
  // [filters, patch_size]. A backend may cover several images per GEMM instead (the CUDA
  // backend does: fewer, larger kernels); the result then differs within rounding only.
  // y [batch, filters, out_h, out_w] = weight * im2col(x_n), plus bias[f] unless bias is null.
  virtual void conv2d_forward(const float* x, int64_t batch, const ConvGeometry& g, int64_t filters,
                              const float* weight, const float* bias, float* y);
  // dweight [filters, patch_size] = the sum over images of dy_n * im2col(x_n)^T (overwritten,
  // zero for an empty batch); dx [batch, channels, height, width] = col2im(weight^T * dy_n).
  virtual void conv2d_backward(const float* x, const float* dy, int64_t batch,
                               const ConvGeometry& g, int64_t filters, const float* weight,
                               float* dweight, float* dx);

  // --- pooling over [batch, channels, height, width] --------------------------------------
  virtual void max_pool_forward(const float* x, float* y, int64_t batch, const PoolGeometry& g) = 0;
  // Each window's gradient goes to its first maximum (recomputed from x); dx is overwritten.
  virtual void max_pool_backward(const float* x, const float* dy, float* dx, int64_t batch,
                                 const PoolGeometry& g) = 0;
  virtual void avg_pool_forward(const float* x, float* y, int64_t batch, const PoolGeometry& g) = 0;
  virtual void avg_pool_backward(const float* dy, float* dx, int64_t batch,
                                 const PoolGeometry& g) = 0;

  // --- dropout -----------------------------------------------------------------------------
  // mask[r, c] = keep ? 1/(1-rate) : 0 with keep = philox::sample_uniform(seed, stream, step,
  // first_sample + r, c) >= rate; y = x * mask. x, y, mask: [rows, cols].
  virtual void dropout_forward(const float* x, float* y, float* mask, int64_t rows, int64_t cols,
                               float rate, const DropoutKey& key) = 0;

  // --- fused optimizer updates over n parameters ---------------------------------------------
  // PyTorch's SGD: g = s*grad + wd*p; v = momentum*v + g; p -= lr * (nesterov ? g + momentum*v : v)
  // (with momentum 0, v is not touched and may be null).
  virtual void sgd_update(float* param, const float* grad, float* velocity, int64_t n,
                          const SgdUpdate& u) = 0;
  // RMSprop as tf.keras 2 (the Keras of multi_gpu_model) defines it, eps outside the root:
  // g = s*grad + wd*p; ms = rho*ms + (1-rho) g^2; p -= lr g / (sqrt(ms) + eps)
  virtual void rmsprop_update(float* param, const float* grad, float* mean_square, int64_t n,
                              const RmspropUpdate& u) = 0;
  // Adam / AdamW (PyTorch's rules, bias-corrected with u.step).
  virtual void adam_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                           int64_t n, const AdamUpdate& u) = 0;

  // --- depthwise convolution over x [batch, channels, height, width] ------------------------
  // PyTorch's Conv2d with groups = channels: output channel c*multiplier + j convolves input
  // channel c alone with filter weight[c*multiplier + j] [kernel_h, kernel_w]. Each output
  // adds its window's products in the order (ky, kx), padding skipped, then bias[o] unless
  // bias is null. y: [batch, channels*multiplier, out_h, out_w].
  virtual void depthwise_conv2d_forward(const float* x, int64_t batch, const ConvGeometry& g,
                                        int64_t multiplier, const float* weight, const float* bias,
                                        float* y) = 0;
  // dweight [channels*multiplier, kernel_h, kernel_w] = the sum over images and positions of
  // dy * x, in double, rounded once (overwritten; zero for an empty batch). dx = the sum, for
  // each pixel in the order (j, ky, kx), of weight * dy over the outputs that read it.
  virtual void depthwise_conv2d_backward(const float* x, const float* dy, int64_t batch,
                                         const ConvGeometry& g, int64_t multiplier,
                                         const float* weight, float* dweight, float* dx) = 0;

  // --- layer normalization over the rows of [rows, cols] ------------------------------------
  // Per row, in double and two passes: mean, biased variance, rstd = 1/sqrt(variance + eps),
  // stored as floats in mean[r] and rstd[r]; then y = xhat * weight + bias in float with
  // xhat = (x - mean) * rstd (weight and bias [cols], both null: y = xhat). A row's results
  // depend on that row alone.
  virtual void layer_norm_forward(const float* x, const float* weight, const float* bias, float* y,
                                  float* mean, float* rstd, int64_t rows, int64_t cols,
                                  float eps) = 0;
  // From the forward's x, mean and rstd, with g = dy * weight (dy when weight is null):
  // dx = rstd * ((g - mean(g)) - xhat * mean(g * xhat)), the row means in double. Unless
  // dweight and dbias are null: dweight[j] = sum_r dy * xhat and dbias[j] = sum_r dy, each
  // column summed in row order in double and rounded once (overwritten; zero with no rows).
  virtual void layer_norm_backward(const float* x, const float* dy, const float* weight,
                                   const float* mean, const float* rstd, float* dx, float* dweight,
                                   float* dbias, int64_t rows, int64_t cols) = 0;

  // --- batch normalization over the channels of [batch, channels, spatial] ------------------
  // (NCHW images with spatial = height * width; [batch, features] with spatial = 1.) Per
  // channel c: xhat = (x - mean[c]) * rstd[c] in float.
  // sums[c] = the sum of x over the call's images and positions of channel c, and
  // sums[channels + c] = the sum of x * x, in double; the sums depend on the call's elements
  // alone (a fixed order for a given shape). Zeros for an empty batch.
  virtual void batch_norm_sums(const float* x, int64_t batch, int64_t channels, int64_t spatial,
                               double* sums) = 0;
  // y = xhat * weight[c] + bias[c], in float.
  virtual void batch_norm_forward(const float* x, const float* mean, const float* rstd,
                                  const float* weight, const float* bias, float* y, int64_t batch,
                                  int64_t channels, int64_t spatial) = 0;
  // sums[c] = the sum of dy and sums[channels + c] = the sum of dy * xhat over channel c, in
  // double, as batch_norm_sums sums. Zeros for an empty batch.
  virtual void batch_norm_backward_sums(const float* x, const float* dy, const float* mean,
                                        const float* rstd, int64_t batch, int64_t channels,
                                        int64_t spatial, double* sums) = 0;
  // dx = weight[c] * rstd[c] * (dy - mean_dy[c] - xhat * mean_dy_xhat[c]), in float: the input
  // gradient of batch normalization given the means of dy and dy * xhat over the batch the
  // statistics came from.
  virtual void batch_norm_backward_input(const float* x, const float* dy, const float* mean,
                                         const float* rstd, const float* weight,
                                         const float* mean_dy, const float* mean_dy_xhat, float* dx,
                                         int64_t batch, int64_t channels, int64_t spatial) = 0;

 protected:
  // This backend's memory for the length of one call (workspaces), given back on scope exit.
  // The allocators cache blocks, so a workspace per call costs no system allocation.
  class Scratch {
   public:
    Scratch(Backend& backend, size_t bytes)
        : backend_(backend), bytes_(bytes), pointer_(backend.allocate(bytes)) {}
    ~Scratch() { backend_.deallocate(pointer_, bytes_); }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    void* get() const { return pointer_; }
    float* floats() const { return static_cast<float*>(pointer_); }

   private:
    Backend& backend_;
    size_t bytes_;
    void* pointer_;
  };
};

// The backend of `device`'s kind. Throws lockstep::Error when this build or machine has none
// (for example a CUDA device in a build without CUDA, or an ordinal no GPU answers to).
Backend& backend_for(const Device& device);

// GPUs this process can use (after CUDA_VISIBLE_DEVICES). 0 when none answers or this build
// has no CUDA; then `why`, when given, receives the reason ("cudaGetDeviceCount: no CUDA-capable
// device is detected", "this build of Lockstep has no CUDA backend").
int cuda_device_count(std::string* why = nullptr);

}  // namespace lockstep::backend
