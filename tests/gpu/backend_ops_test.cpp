// The CUDA backend against its CPU twin, op by op, on fresh random inputs (a seeded
// std::mt19937 per test): relative error ||gpu - cpu|| / ||cpu|| within 1e-5 in FP32 (2e-3 for
// GEMM in TF32, 1e-6 for optimizer updates), bitwise equality where the op is a copy or a
// selection (dropout masks, im2col, max pooling, the double accumulators), the CPU's error
// messages for bad input, copies, pinned memory, the caching allocator, and device checks.
// Every test skips when no GPU answers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "gpu/gpu_test.h"
#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "lockstep/nn/dense.h"
#include "lockstep/nn/loss.h"
#include "lockstep/tensor/tensor.h"
#include "support/conv_cases.h"

namespace lockstep::gpu_testing {
namespace {

using backend::Activation;
using backend::ConvGeometry;
using backend::PoolGeometry;
using backend::cuda::CudaBackend;

constexpr double kFp32 = 1e-5;

class CudaBackendTest : public GpuTest {};
class CudaMemoryTest : public GpuTest {};
class CudaElementwiseTest : public GpuTest {};
class CudaGemmTest : public GpuTest {};
class CudaLossTest : public GpuTest {};
class CudaConvPoolTest : public GpuTest {};
class CudaOptimizerTest : public GpuTest {};

// --- the backend and its registry -------------------------------------------------------------

TEST_F(CudaBackendTest, BackendForCudaZeroIsTheCudaBackendOfOrdinalZero) {
  CudaBackend& be = backend::cuda::cuda_backend(0);
  EXPECT_EQ(&gpu(), static_cast<backend::Backend*>(&be));
  EXPECT_EQ(be.ordinal(), 0);
  EXPECT_EQ(be.device(), Device::cuda(0));
  EXPECT_NE(be.stream(), nullptr);
}

TEST_F(CudaBackendTest, AnOrdinalNoGpuAnswersToIsAnErrorNamingTheCount) {
  const std::string message = error_message([] { backend::backend_for(Device::cuda(99)); });
  EXPECT_NE(message.find("cuda:99"), std::string::npos) << message;
  EXPECT_NE(message.find("answer"), std::string::npos) << message;
}

// --- memory -----------------------------------------------------------------------------------

TEST_F(CudaMemoryTest, CopiesHostToDeviceToHostAndDeviceToDeviceExactly) {
  std::mt19937 rng(101);
  const std::vector<float> values = random_floats(10007, rng);
  DeviceBuffer<float> a(values), b(values.size());
  gpu().copy(b.get(), a.get(), values.size() * sizeof(float));
  EXPECT_EQ(b.download(), values);
  // Overlapping ranges move like memmove, as on the CPU.
  std::vector<float> expected = values;
  std::memmove(expected.data() + 10, expected.data(), 5000 * sizeof(float));
  gpu().copy(a.get() + 10, a.get(), 5000 * sizeof(float));
  EXPECT_EQ(a.download(), expected);
}

TEST_F(CudaMemoryTest, TensorsMoveBetweenHostAndDevice) {
  std::mt19937 rng(102);
  const std::vector<float> values = random_floats(3 * 41, rng);
  const Tensor host = Tensor::from_vector({3, 41}, values);
  const Tensor device = host.to(gpu_device());
  EXPECT_EQ(device.device(), gpu_device());
  const Tensor copy = device.clone();
  EXPECT_EQ(copy.device(), gpu_device());
  EXPECT_FALSE(copy.shares_storage(device));
  EXPECT_EQ(copy.to_vector(), values);
  EXPECT_EQ(copy.to(Device::cpu()).to_vector(), values);
  const Tensor filled = Tensor::full({5, 7}, 2.5f, gpu_device());
  EXPECT_EQ(filled.to_vector(), std::vector<float>(35, 2.5f));
}

TEST_F(CudaMemoryTest, PinnedTensorsArePageLockedHostMemoryThatRoundTrips) {
  std::mt19937 rng(103);
  const std::vector<float> values = random_floats(4 * 256, rng);
  Tensor pinned = Tensor::empty_pinned({4, 256}, gpu_device());
  EXPECT_TRUE(pinned.device().is_cpu());
  cudaPointerAttributes attributes{};
  ASSERT_EQ(cudaPointerGetAttributes(&attributes, pinned.data()), cudaSuccess);
  EXPECT_EQ(attributes.type, cudaMemoryTypeHost);
  std::memcpy(pinned.data(), values.data(), pinned.bytes());
  const Tensor device = pinned.to(gpu_device());
  Tensor back = Tensor::empty_pinned({4, 256}, gpu_device());
  back.copy_from(device);
  EXPECT_EQ(back.to_vector(), values);
}

// A training loop allocates the same sizes every step: after one warm-up step the caching
// allocator serves them all from its cache.
TEST_F(CudaMemoryTest, NoSystemAllocationAfterAWarmUpStep) {
  CudaBackend& be = backend::cuda::cuda_backend(0);
  // Sizes no other test uses, so the first step must reach cudaMalloc.
  auto step = [] {
    Tensor a = Tensor::empty({999'937}, gpu_device());
    Tensor b = Tensor::empty({12'345}, gpu_device());
    Tensor c = Tensor::empty({3, 33'333}, gpu_device());
    a.fill(1.0f);
    b.fill(2.0f);
    c.fill(3.0f);
    gpu().synchronize();
  };
  const int64_t before = be.allocator_stats().system_allocations;
  step();
  const backend::AllocatorStats warm = be.allocator_stats();
  EXPECT_GT(warm.system_allocations, before);
  step();
  const backend::AllocatorStats after = be.allocator_stats();
  EXPECT_EQ(after.system_allocations, warm.system_allocations);
  EXPECT_EQ(after.bytes_in_use, warm.bytes_in_use);
}

TEST_F(CudaMemoryTest, OutOfMemoryIsAClearErrorAndTheDeviceStillWorks) {
  const std::string message = error_message([] { gpu().allocate(size_t{1} << 50); });
  EXPECT_NE(message.find("cuda:0: out of memory allocating 1125899906842624 bytes"),
            std::string::npos)
      << message;
  DeviceBuffer<float> buffer(100);
  gpu().fill(buffer.get(), 100, 4.0f);
  EXPECT_EQ(buffer.download(), std::vector<float>(100, 4.0f));
}

// --- elementwise ----------------------------------------------------------------------------

TEST_F(CudaElementwiseTest, FillScaleAxpyMultiplyMatchTheCpu) {
  std::mt19937 rng(201);
  const size_t n = 10007;
  const std::vector<float> x = random_floats(n, rng), y0 = random_floats(n, rng);
  DeviceBuffer<float> dx(x), dy(y0), dout(n);
  std::vector<float> y = y0, out(n);

  cpu().axpy(n, 0.37f, x.data(), y.data());
  gpu().axpy(n, 0.37f, dx.get(), dy.get());
  EXPECT_LE(relative_error(dy.download(), y), kFp32);

  cpu().scale(y.data(), n, -1.75f);
  gpu().scale(dy.get(), n, -1.75f);
  EXPECT_LE(relative_error(dy.download(), y), kFp32);

  cpu().multiply(x.data(), y.data(), out.data(), n);
  gpu().multiply(dx.get(), dy.get(), dout.get(), n);
  EXPECT_LE(relative_error(dout.download(), out), kFp32);

  gpu().fill(dout.get(), n, -3.25f);
  EXPECT_EQ(dout.download(), std::vector<float>(n, -3.25f));
  gpu().fill(dout.get(), 0, 1.0f);  // n == 0 launches nothing and changes nothing
  EXPECT_EQ(dout.download(), std::vector<float>(n, -3.25f));
}

// The gradient buckets' double accumulators: element sums are exact, so bitwise equal.
TEST_F(CudaElementwiseTest, DoubleAccumulationAndRoundingEqualTheCpuBitwise) {
  std::mt19937 rng(202);
  const size_t n = 4099;
  std::vector<double> sums(n);
  DeviceBuffer<double> dsums(n);
  cpu().fill_double(sums.data(), n, 0.125);
  gpu().fill_double(dsums.get(), n, 0.125);
  for (int pass = 0; pass < 6; ++pass) {
    const std::vector<float> x = random_floats(n, rng, -100.0f, 100.0f);
    DeviceBuffer<float> dx(x);
    cpu().accumulate_double(x.data(), sums.data(), n);
    gpu().accumulate_double(dx.get(), dsums.get(), n);
  }
  EXPECT_EQ(dsums.download(), sums);
  std::vector<float> rounded(n);
  DeviceBuffer<float> drounded(n);
  cpu().round_to_float(sums.data(), rounded.data(), n);
  gpu().round_to_float(dsums.get(), drounded.get(), n);
  EXPECT_EQ(drounded.download(), rounded);
}

TEST_F(CudaElementwiseTest, ActivationsForwardAndBackwardMatchTheCpu) {
  std::mt19937 rng(203);
  const size_t n = 5003;
  std::vector<float> x = random_floats(n, rng, -6.0f, 6.0f);
  x[0] = 90.0f, x[1] = -90.0f, x[2] = 0.0f;  // saturation: no overflow in either branch
  const std::vector<float> dy = random_floats(n, rng);
  DeviceBuffer<float> dx_in(x), ddy(dy), dyv(n), ddx(n);
  for (Activation kind :
       {Activation::kRelu, Activation::kTanh, Activation::kSigmoid, Activation::kGelu}) {
    SCOPED_TRACE(static_cast<int>(kind));
    std::vector<float> y(n), dx(n);
    cpu().activation_forward(kind, x.data(), y.data(), n);
    gpu().activation_forward(kind, dx_in.get(), dyv.get(), n);
    EXPECT_LE(relative_error(dyv.download(), y), kFp32);
    cpu().activation_backward(kind, x.data(), y.data(), dy.data(), dx.data(), n);
    gpu().activation_backward(kind, dx_in.get(), dyv.get(), ddy.get(), ddx.get(), n);
    EXPECT_LE(relative_error(ddx.download(), dx), kFp32);
  }
}

// Invariant 2 of the design: a sample's mask depends on (seed, stream, step, sample,
// element) only, so the GPU draws the CPU's masks bit for bit.
TEST_F(CudaElementwiseTest, DropoutMasksAndOutputsEqualTheCpuBitwise) {
  std::mt19937 rng(204);
  const int64_t rows = 37, cols = 129;
  const std::vector<float> x = random_floats(rows * cols, rng);
  DeviceBuffer<float> dx(x), dy(x.size()), dmask(x.size());
  const backend::DropoutKey key{0x1234'5678'9ABCull, 3, 7, (int64_t{1} << 32) + 1000};
  for (float rate : {0.0f, 0.1f, 0.5f, 0.9f}) {
    SCOPED_TRACE(rate);
    std::vector<float> y(x.size()), mask(x.size());
    cpu().dropout_forward(x.data(), y.data(), mask.data(), rows, cols, rate, key);
    gpu().dropout_forward(dx.get(), dy.get(), dmask.get(), rows, cols, rate, key);
    EXPECT_EQ(dmask.download(), mask);
    EXPECT_EQ(dy.download(), y);
  }
  const std::string cpu_error = error_message([&] {
    std::vector<float> y(x.size()), mask(x.size());
    cpu().dropout_forward(x.data(), y.data(), mask.data(), rows, cols, 1.0f, key);
  });
  EXPECT_NE(cpu_error, "(no error)");
  EXPECT_EQ(error_message([&] {
              gpu().dropout_forward(dx.get(), dy.get(), dmask.get(), rows, cols, 1.0f, key);
            }),
            cpu_error);
}

// --- dense algebra ----------------------------------------------------------------------------

struct GemmShape {
  int64_t m, n, k;
};

// Runs one GEMM on both backends (stored shapes padded by `pad` columns, so lda > cols) and
// returns the relative error of the GPU's whole C array, padding included.
double gemm_error(bool ta, bool tb, const GemmShape& s, int64_t pad, float alpha, float beta,
                  std::mt19937& rng) {
  const int64_t a_rows = ta ? s.k : s.m, a_cols = ta ? s.m : s.k;
  const int64_t b_rows = tb ? s.n : s.k, b_cols = tb ? s.k : s.n;
  const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = s.n + pad;
  const std::vector<float> a = random_floats(a_rows * lda, rng);
  const std::vector<float> b = random_floats(b_rows * ldb, rng);
  std::vector<float> c = random_floats(s.m * ldc, rng);
  DeviceBuffer<float> da(a), db(b), dc(c);
  cpu().gemm(ta, tb, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  gpu().gemm(ta, tb, s.m, s.n, s.k, alpha, da.get(), lda, db.get(), ldb, beta, dc.get(), ldc);
  return relative_error(dc.download(), c);
}

const std::vector<GemmShape>& gemm_shapes() {
  static const std::vector<GemmShape> shapes = {{1, 1, 1},     {7, 9, 11},    {33, 17, 65},
                                                {64, 128, 96}, {129, 3, 257}, {2, 300, 5}};
  return shapes;
}

TEST_F(CudaGemmTest, AllTransposesAndShapesMatchTheCpuInFp32) {
  std::mt19937 rng(301);
  for (const GemmShape& s : gemm_shapes()) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
      SCOPED_TRACE(::testing::Message() << "trans_a " << ta << " trans_b " << tb << " m " << s.m
                                        << " n " << s.n << " k " << s.k);
      EXPECT_LE(gemm_error(ta, tb, s, 0, 1.0f, 0.0f, rng), kFp32);
      EXPECT_LE(gemm_error(ta, tb, s, 3, 0.75f, -0.5f, rng), kFp32);
    }
  }
}

TEST_F(CudaGemmTest, Tf32IsOptInAndStaysWithinItsTolerance) {
  EXPECT_FALSE(CudaBackend::allow_tf32());  // the fixture's FP32 default
  CudaBackend::set_allow_tf32(true);
  EXPECT_TRUE(CudaBackend::allow_tf32());
  std::mt19937 rng(302);
  for (const GemmShape& s : gemm_shapes()) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
      SCOPED_TRACE(::testing::Message() << "trans_a " << ta << " trans_b " << tb << " m " << s.m
                                        << " n " << s.n << " k " << s.k);
      EXPECT_LE(gemm_error(ta, tb, s, 2, 1.0f, 0.5f, rng), 2e-3);
    }
  }
}

TEST_F(CudaGemmTest, ZeroInnerDimensionScalesCAndBadStridesAreTheCpuErrors) {
  std::vector<float> c = {1.0f, NAN, 3.0f, 4.0f, 5.0f, 6.0f};
  DeviceBuffer<float> dc(c);
  gpu().gemm(false, false, 2, 3, 0, 2.0f, nullptr, 1, nullptr, 3, 0.0f, dc.get(), 3);
  EXPECT_EQ(dc.download(), std::vector<float>(6, 0.0f));  // beta 0 overwrites, NaN included
  dc.upload({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f});
  gpu().gemm(false, false, 2, 3, 0, 2.0f, nullptr, 1, nullptr, 3, 0.5f, dc.get(), 3);
  EXPECT_EQ(dc.download(), (std::vector<float>{0.5f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f}));

  const std::vector<float> a(12, 1.0f), b(12, 1.0f);
  DeviceBuffer<float> da(a), db(b);
  const std::string cpu_error = error_message([&] {
    cpu().gemm(false, false, 2, 3, 2, 1.0f, a.data(), 2, b.data(), 3, 0.0f, c.data(), 2);
  });
  EXPECT_NE(cpu_error, "(no error)");
  EXPECT_EQ(error_message([&] {
              gpu().gemm(false, false, 2, 3, 2, 1.0f, da.get(), 2, db.get(), 3, 0.0f, dc.get(), 2);
            }),
            cpu_error);
}

TEST_F(CudaGemmTest, BiasAddAndBiasGradientsMatchTheCpuAndRepeatBitwise) {
  std::mt19937 rng(303);
  const int64_t rows = 300, cols = 70;
  const std::vector<float> y0 = random_floats(rows * cols, rng), bias = random_floats(cols, rng);
  std::vector<float> y = y0, dbias(cols);
  DeviceBuffer<float> dy(y0), dbias_in(bias), ddbias(cols);
  cpu().add_bias_rows(y.data(), bias.data(), rows, cols);
  gpu().add_bias_rows(dy.get(), dbias_in.get(), rows, cols);
  EXPECT_LE(relative_error(dy.download(), y), kFp32);
  cpu().bias_grad_rows(y0.data(), dbias.data(), rows, cols);
  DeviceBuffer<float> dgrad_in(y0);
  gpu().bias_grad_rows(dgrad_in.get(), ddbias.get(), rows, cols);
  const std::vector<float> first = ddbias.download();
  EXPECT_LE(relative_error(first, dbias), kFp32);
  gpu().bias_grad_rows(dgrad_in.get(), ddbias.get(), rows, cols);
  EXPECT_EQ(ddbias.download(), first);

  const int64_t batch = 5, channels = 7, spatial = 97;
  const std::vector<float> z0 = random_floats(batch * channels * spatial, rng);
  const std::vector<float> channel_bias = random_floats(channels, rng);
  std::vector<float> z = z0, dchannel(channels);
  DeviceBuffer<float> dz(z0), dz_grad(z0), dchannel_bias(channel_bias), ddchannel(channels);
  cpu().add_bias_channels(z.data(), channel_bias.data(), batch, channels, spatial);
  gpu().add_bias_channels(dz.get(), dchannel_bias.get(), batch, channels, spatial);
  EXPECT_LE(relative_error(dz.download(), z), kFp32);
  cpu().bias_grad_channels(z0.data(), dchannel.data(), batch, channels, spatial);
  gpu().bias_grad_channels(dz_grad.get(), ddchannel.get(), batch, channels, spatial);
  const std::vector<float> channel_first = ddchannel.download();
  EXPECT_LE(relative_error(channel_first, dchannel), kFp32);
  gpu().bias_grad_channels(dz_grad.get(), ddchannel.get(), batch, channels, spatial);
  EXPECT_EQ(ddchannel.download(), channel_first);
}

// --- losses ---------------------------------------------------------------------------------

std::vector<float> random_labels(int64_t rows, int64_t classes, std::mt19937& rng) {
  std::uniform_int_distribution<int64_t> dist(0, classes - 1);
  std::vector<float> labels(rows);
  for (float& label : labels) label = static_cast<float>(dist(rng));
  return labels;
}

TEST_F(CudaLossTest, CrossEntropyWithLabelsMatchesTheCpuAndIsStableForHugeLogits) {
  std::mt19937 rng(401);
  const int64_t rows = 50, classes = 10;
  std::vector<float> logits = random_floats(rows * classes, rng, -5.0f, 5.0f);
  for (int64_t j = 0; j < classes; ++j) logits[3 * classes + j] *= 1000.0f;  // stability
  const std::vector<float> labels = random_labels(rows, classes, rng);
  std::vector<float> grad(logits.size());
  DeviceBuffer<float> dlogits(logits), dlabels(labels), dgrad(logits.size());
  const double expected =
      cpu().softmax_cross_entropy_labels(logits.data(), labels.data(), grad.data(), rows, classes);
  const double actual =
      gpu().softmax_cross_entropy_labels(dlogits.get(), dlabels.get(), dgrad.get(), rows, classes);
  ASSERT_TRUE(std::isfinite(expected));
  EXPECT_NEAR(actual, expected, kFp32 * std::abs(expected));
  EXPECT_LE(relative_error(dgrad.download(), grad), kFp32);
  EXPECT_EQ(
      gpu().softmax_cross_entropy_labels(dlogits.get(), dlabels.get(), dgrad.get(), 0, classes),
      0.0);
}

// A bad label is the CPU's error (naming the first bad row) and leaves dlogits untouched.
TEST_F(CudaLossTest, LabelsOutOfRangeThrowTheCpuErrorAndWriteNothing) {
  const int64_t rows = 12, classes = 10;
  std::mt19937 rng(402);
  const std::vector<float> logits = random_floats(rows * classes, rng);
  DeviceBuffer<float> dlogits(logits), dgrad(logits.size());
  const std::vector<float> sentinel(logits.size(), 7.0f);
  for (const std::vector<float>& bad : std::vector<std::vector<float>>{
           {0, 1, 2, -1, 4, 5, 6, 10, 8, 2.5f, 1, 0},  // first bad row 3
           {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 10},      // the last row
           {0, 1, NAN, 3, 4, 5, 6, 7, 8, 9, 1, 0},     // NaN is no class
           {0, 1, 2, 3, 4.5f, 5, 6, 7, 8, 9, 1, 0}}) {
    std::vector<float> grad(logits.size());
    const std::string cpu_error = error_message([&] {
      cpu().softmax_cross_entropy_labels(logits.data(), bad.data(), grad.data(), rows, classes);
    });
    ASSERT_NE(cpu_error, "(no error)");
    DeviceBuffer<float> dlabels(bad);
    dgrad.upload(sentinel);
    EXPECT_EQ(error_message([&] {
                gpu().softmax_cross_entropy_labels(dlogits.get(), dlabels.get(), dgrad.get(), rows,
                                                   classes);
              }),
              cpu_error);
    EXPECT_EQ(dgrad.download(), sentinel);
  }
}

TEST_F(CudaLossTest, CrossEntropyWithTargetsMatchesTheCpu) {
  std::mt19937 rng(403);
  const int64_t rows = 64, classes = 300;  // more classes than one block's threads
  const std::vector<float> logits = random_floats(rows * classes, rng, -4.0f, 4.0f);
  std::vector<float> targets = random_floats(rows * classes, rng, 0.0f, 1.0f);
  for (int64_t r = 0; r < rows; ++r) {
    float sum = 0.0f;
    for (int64_t j = 0; j < classes; ++j) {
      float& t = targets[r * classes + j];
      t = t < 0.7f ? 0.0f : t;  // mostly zero weights, as in one-hot rows
      sum += t;
    }
    for (int64_t j = 0; j < classes; ++j) targets[r * classes + j] /= sum > 0 ? sum : 1.0f;
  }
  std::vector<float> grad(logits.size());
  DeviceBuffer<float> dlogits(logits), dtargets(targets), dgrad(logits.size());
  const double expected = cpu().softmax_cross_entropy_targets(logits.data(), targets.data(),
                                                              grad.data(), rows, classes);
  const double actual = gpu().softmax_cross_entropy_targets(dlogits.get(), dtargets.get(),
                                                            dgrad.get(), rows, classes);
  EXPECT_NEAR(actual, expected, kFp32 * std::abs(expected));
  EXPECT_LE(relative_error(dgrad.download(), grad), kFp32);
}

// A training step on the GPU adds each pass's loss into a LossAccumulator without waiting:
// the totals match the CPU's, each pass writes the CPU's gradient, and a label that is not a
// class is reported by read() (its row counted from the step's first row), not by the pass.
TEST_F(CudaLossTest, DeferredCrossEntropyAddsUpLikeTheCpuAndReportsABadLabelAtRead) {
  std::mt19937 rng(410);
  const int64_t rows = 48, classes = 10;
  const Tensor logits = Tensor::from_vector(
      {rows, classes}, random_floats(static_cast<size_t>(rows * classes), rng, -4.0f, 4.0f));
  const Tensor labels = Tensor::from_vector({rows}, random_labels(rows, classes, rng));
  nn::CrossEntropyLoss loss;
  nn::LossAccumulator on_cpu(Device::cpu()), on_gpu(gpu_device());
  const Tensor gpu_logits = logits.to(gpu_device()), gpu_labels = labels.to(gpu_device());
  for (int64_t begin = 0; begin < rows; begin += 16) {
    Tensor cpu_grad, gpu_grad;
    loss.accumulate(logits.rows(begin, begin + 16), labels.rows(begin, begin + 16), cpu_grad,
                    on_cpu);
    loss.accumulate(gpu_logits.rows(begin, begin + 16), gpu_labels.rows(begin, begin + 16),
                    gpu_grad, on_gpu);
    EXPECT_LE(relative_error(gpu_grad.to_vector(), cpu_grad.to_vector()), kFp32);
  }
  const nn::LossValue expected = on_cpu.read(), actual = on_gpu.read();
  EXPECT_NEAR(actual.sum, expected.sum, 1e-5 * expected.sum);
  EXPECT_EQ(actual.rows, rows);
  EXPECT_EQ(actual.correct, expected.correct);

  // Rows 16..31 hold a label 10 at row 16 + 5: the pass adds nothing, read() names row 21.
  std::vector<float> bad_labels = labels.to_vector();
  bad_labels[21] = static_cast<float>(classes);
  const Tensor gpu_bad = Tensor::from_vector({rows}, bad_labels).to(gpu_device());
  on_gpu.clear();
  for (int64_t begin = 0; begin < rows; begin += 16) {
    Tensor grad;
    loss.accumulate(gpu_logits.rows(begin, begin + 16), gpu_bad.rows(begin, begin + 16), grad,
                    on_gpu);  // does not throw: nothing is read back
  }
  try {
    on_gpu.read();
    FAIL() << "read() accepted a label equal to the number of classes";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("label of row 21 is 10, expected an integer class in "
                                         "[0, 10)"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(CudaLossTest, MeanSquaredErrorMatchesTheCpu) {
  std::mt19937 rng(404);
  const int64_t rows = 40, cols = 33;
  const std::vector<float> pred = random_floats(rows * cols, rng),
                           target = random_floats(rows * cols, rng);
  std::vector<float> grad(pred.size());
  DeviceBuffer<float> dpred(pred), dtarget(target), dgrad(pred.size());
  const double expected =
      cpu().mean_squared_error(pred.data(), target.data(), grad.data(), rows, cols);
  const double actual =
      gpu().mean_squared_error(dpred.get(), dtarget.get(), dgrad.get(), rows, cols);
  EXPECT_NEAR(actual, expected, kFp32 * std::abs(expected));
  EXPECT_LE(relative_error(dgrad.download(), grad), kFp32);
  EXPECT_EQ(error_message([&] {
              gpu().mean_squared_error(dpred.get(), dtarget.get(), dgrad.get(), rows, 0);
            }),
            error_message([&] {
              cpu().mean_squared_error(pred.data(), target.data(), grad.data(), rows, 0);
            }));
}

// Logits from {0, 1, 2} tie in most rows: the count follows the first maximum, as on the CPU;
// NaN logits follow the CPU's scan too.
TEST_F(CudaLossTest, CountCorrectTakesTheFirstMaximumLikeTheCpu) {
  std::mt19937 rng(405);
  const int64_t rows = 500, classes = 7;
  std::uniform_int_distribution<int> level(0, 2);
  std::vector<float> logits(rows * classes);
  for (float& z : logits) z = static_cast<float>(level(rng));
  logits[0] = NAN;            // row 0: NaN first, the CPU answers class 0
  logits[classes + 3] = NAN;  // row 1: a NaN in the middle is passed over
  const std::vector<float> labels = random_labels(rows, classes, rng);
  DeviceBuffer<float> dlogits(logits), dlabels(labels);
  const int64_t expected = cpu().count_correct(logits.data(), labels.data(), rows, classes);
  ASSERT_GT(expected, 0);
  ASSERT_LT(expected, rows);
  EXPECT_EQ(gpu().count_correct(dlogits.get(), dlabels.get(), rows, classes), expected);
  // Row by row against every label, so a wrong tie rule cannot hide behind a matching total
  // (the first 20 rows hold plenty of ties).
  for (int64_t r = 0; r < 20; ++r) {
    const float* z = logits.data() + r * classes;
    for (int64_t c = 0; c < classes; ++c) {
      const float label = static_cast<float>(c);
      DeviceBuffer<float> one_label(std::vector<float>{label});
      ASSERT_EQ(gpu().count_correct(dlogits.get() + r * classes, one_label.get(), 1, classes),
                cpu().count_correct(z, &label, 1, classes))
          << "row " << r << " label " << c;
    }
  }
}

// --- convolution and pooling -------------------------------------------------------------------

using testing::conv_geometry;

TEST_F(CudaConvPoolTest, Im2colIsTheCpusCopyAndCol2imMatchesTheCpu) {
  std::mt19937 rng(501);
  for (const ConvGeometry& g :
       {conv_geometry(3, 9, 11, 3, 3, 1, 1, 1, 1), conv_geometry(2, 10, 7, 4, 2, 2, 3, 1, 2),
        conv_geometry(1, 5, 5, 5, 5, 1, 1, 0, 0), conv_geometry(4, 8, 8, 1, 1, 2, 2, 0, 0),
        conv_geometry(2, 6, 6, 3, 3, 3, 3, 2, 2)}) {
    SCOPED_TRACE(::testing::Message() << g.channels << "x" << g.height << "x" << g.width
                                      << " kernel " << g.kernel_h << "x" << g.kernel_w);
    const int64_t image_size = g.channels * g.height * g.width;
    const int64_t column_size = g.patch_size() * g.out_h() * g.out_w();
    const std::vector<float> image = random_floats(image_size, rng);
    std::vector<float> columns(column_size);
    DeviceBuffer<float> dimage(image), dcolumns(column_size);
    cpu().im2col(image.data(), g, columns.data());
    gpu().im2col(dimage.get(), g, dcolumns.get());
    EXPECT_EQ(dcolumns.download(), columns);

    const std::vector<float> grad_columns = random_floats(column_size, rng);
    std::vector<float> folded(image_size);
    DeviceBuffer<float> dgrad_columns(grad_columns), dfolded(image_size);
    cpu().col2im(grad_columns.data(), g, folded.data());
    gpu().col2im(dgrad_columns.get(), g, dfolded.get());
    EXPECT_LE(relative_error(dfolded.download(), folded), kFp32);
  }
}

// The CUDA backend's convolution unfolds many images per GEMM; the CPU's default one image at
// a time. Both must give the same outputs, weight gradients (summed over images) and input
// gradients, for one image, a few, and a batch that needs several passes (the last one short).
TEST_F(CudaConvPoolTest, BatchedConvolutionMatchesTheCpuForwardAndBackward) {
  std::mt19937 rng(503);
  struct Case {
    ConvGeometry g;
    int64_t batch, filters;
  };
  const ConvGeometry large =
      conv_geometry(16, 32, 32, 3, 3, 1, 1, 1, 1);  // 147,456 column floats each
  const int64_t per_pass = CudaBackend::kConvColumnFloats / (large.patch_size() * 32 * 32);
  for (const Case& c : {Case{conv_geometry(3, 9, 11, 3, 3, 1, 1, 1, 1), 1, 5},
                        Case{conv_geometry(2, 10, 7, 4, 2, 2, 3, 1, 2), 7, 4},
                        Case{conv_geometry(1, 28, 28, 5, 5, 1, 1, 0, 0), 16, 32},
                        Case{large, 2 * per_pass + 3, 8}}) {
    const ConvGeometry& g = c.g;
    SCOPED_TRACE(::testing::Message() << "batch " << c.batch << " of " << g.channels << "x"
                                      << g.height << "x" << g.width << ", kernel " << g.kernel_h
                                      << "x" << g.kernel_w << ", " << c.filters << " filters");
    const int64_t x_size = c.batch * g.channels * g.height * g.width;
    const int64_t y_size = c.batch * c.filters * g.out_h() * g.out_w();
    const int64_t w_size = c.filters * g.patch_size();
    const std::vector<float> x = random_floats(static_cast<size_t>(x_size), rng);
    const std::vector<float> w = random_floats(static_cast<size_t>(w_size), rng);
    const std::vector<float> bias = random_floats(static_cast<size_t>(c.filters), rng);
    const std::vector<float> dy = random_floats(static_cast<size_t>(y_size), rng);
    std::vector<float> y(y_size), dw(w_size), dx(x_size);
    cpu().conv2d_forward(x.data(), c.batch, g, c.filters, w.data(), bias.data(), y.data());
    cpu().conv2d_backward(x.data(), dy.data(), c.batch, g, c.filters, w.data(), dw.data(),
                          dx.data());
    DeviceBuffer<float> dev_x(x), dev_w(w), dev_bias(bias), dev_dy(dy);
    DeviceBuffer<float> dev_y(y_size), dev_dw(std::vector<float>(w_size, 7.0f)), dev_dx(x_size);
    gpu().conv2d_forward(dev_x.get(), c.batch, g, c.filters, dev_w.get(), dev_bias.get(),
                         dev_y.get());
    gpu().conv2d_backward(dev_x.get(), dev_dy.get(), c.batch, g, c.filters, dev_w.get(),
                          dev_dw.get(), dev_dx.get());
    EXPECT_LE(relative_error(dev_y.download(), y), kFp32);
    EXPECT_LE(relative_error(dev_dw.download(), dw), kFp32);
    EXPECT_LE(relative_error(dev_dx.download(), dx), kFp32);
  }
  // An empty batch writes a zero weight gradient.
  DeviceBuffer<float> dev_dw(std::vector<float>(6, 7.0f));
  const ConvGeometry g = conv_geometry(1, 4, 4, 2, 3, 1, 1, 0, 0);
  gpu().conv2d_backward(nullptr, nullptr, 0, g, 1, nullptr, dev_dw.get(), nullptr);
  EXPECT_EQ(dev_dw.download(), std::vector<float>(6, 0.0f));
}

PoolGeometry pool(int64_t c, int64_t h, int64_t w, int64_t ph, int64_t pw, int64_t sh, int64_t sw) {
  PoolGeometry g;
  g.channels = c, g.height = h, g.width = w, g.pool_h = ph, g.pool_w = pw;
  g.stride_h = sh, g.stride_w = sw;
  return g;
}

// Inputs from {0, 1, 2}: most windows hold tied maxima, so a gradient sent to any maximum
// but the first shows as a large error.
TEST_F(CudaConvPoolTest, PoolingMatchesTheCpuWithTiedMaxima) {
  std::mt19937 rng(502);
  std::uniform_int_distribution<int> level(0, 2);
  const int64_t batch = 3;
  for (const PoolGeometry& g : {pool(4, 9, 10, 2, 2, 2, 2), pool(4, 9, 10, 3, 3, 1, 1),
                                pool(2, 9, 10, 2, 2, 3, 3), pool(3, 7, 8, 3, 2, 2, 1)}) {
    SCOPED_TRACE(::testing::Message() << "pool " << g.pool_h << "x" << g.pool_w << " stride "
                                      << g.stride_h << "x" << g.stride_w);
    const int64_t in_size = batch * g.channels * g.height * g.width;
    const int64_t out_size = batch * g.channels * g.out_h() * g.out_w();
    std::vector<float> x(in_size);
    for (float& v : x) v = static_cast<float>(level(rng));
    const std::vector<float> dy = random_floats(out_size, rng);
    DeviceBuffer<float> dx_in(x), ddy(dy), dout(out_size), dgrad(in_size);
    std::vector<float> out(out_size), grad(in_size);

    cpu().max_pool_forward(x.data(), out.data(), batch, g);
    gpu().max_pool_forward(dx_in.get(), dout.get(), batch, g);
    EXPECT_EQ(dout.download(), out);
    cpu().max_pool_backward(x.data(), dy.data(), grad.data(), batch, g);
    gpu().max_pool_backward(dx_in.get(), ddy.get(), dgrad.get(), batch, g);
    EXPECT_LE(relative_error(dgrad.download(), grad), kFp32);

    cpu().avg_pool_forward(x.data(), out.data(), batch, g);
    gpu().avg_pool_forward(dx_in.get(), dout.get(), batch, g);
    EXPECT_LE(relative_error(dout.download(), out), kFp32);
    cpu().avg_pool_backward(dy.data(), grad.data(), batch, g);
    gpu().avg_pool_backward(ddy.get(), dgrad.get(), batch, g);
    EXPECT_LE(relative_error(dgrad.download(), grad), kFp32);
  }
  const PoolGeometry too_big = pool(1, 2, 2, 3, 3, 1, 1);
  float unused = 0.0f;
  EXPECT_EQ(error_message([&] { gpu().max_pool_forward(&unused, &unused, 1, too_big); }),
            error_message([&] { cpu().max_pool_forward(&unused, &unused, 1, too_big); }));
}

// --- optimizer updates --------------------------------------------------------------------------

// Several steps of one update rule on both backends, fresh gradients each step; `update` runs
// one step on the given backend with (param, grad, slot0, slot1).
void check_updates(const std::function<void(backend::Backend&, int64_t step, float*, const float*,
                                            float*, float*)>& update,
                   std::mt19937& rng) {
  const size_t n = 4099;
  std::vector<float> param = random_floats(n, rng), slot0(n, 0.0f), slot1(n, 0.0f);
  DeviceBuffer<float> dparam(param), dslot0(slot0), dslot1(slot1);
  for (int64_t step = 1; step <= 5; ++step) {
    const std::vector<float> grad = random_floats(n, rng, -30.0f, 30.0f);
    DeviceBuffer<float> dgrad(grad);
    update(cpu(), step, param.data(), grad.data(), slot0.data(), slot1.data());
    update(gpu(), step, dparam.get(), dgrad.get(), dslot0.get(), dslot1.get());
  }
  EXPECT_LE(relative_error(dparam.download(), param), 1e-6);
  EXPECT_LE(relative_error(dslot0.download(), slot0), 1e-6);
  EXPECT_LE(relative_error(dslot1.download(), slot1), 1e-6);
}

TEST_F(CudaOptimizerTest, SgdVariantsMatchTheCpuOverSeveralSteps) {
  std::mt19937 rng(601);
  for (const backend::SgdUpdate& u : {backend::SgdUpdate{0.1f, 0.0f, 0.0f, 1.0f / 32, false},
                                      backend::SgdUpdate{0.05f, 0.9f, 1e-2f, 1.0f / 32, false},
                                      backend::SgdUpdate{0.05f, 0.9f, 1e-3f, 1.0f / 16, true}}) {
    SCOPED_TRACE(::testing::Message() << "momentum " << u.momentum << " nesterov " << u.nesterov);
    check_updates([&](backend::Backend& be, int64_t, float* p, const float* g, float* v,
                      float*) { be.sgd_update(p, g, u.momentum == 0.0f ? nullptr : v, 4099, u); },
                  rng);
  }
}

TEST_F(CudaOptimizerTest, RmspropMatchesTheCpuOverSeveralSteps) {
  std::mt19937 rng(602);
  const backend::RmspropUpdate u{0.01f, 0.9f, 1e-7f, 1e-2f, 1.0f / 32};
  check_updates([&](backend::Backend& be, int64_t, float* p, const float* g, float* ms,
                    float*) { be.rmsprop_update(p, g, ms, 4099, u); },
                rng);
}

TEST_F(CudaOptimizerTest, AdamAndAdamWMatchTheCpuOverSeveralSteps) {
  std::mt19937 rng(603);
  for (bool decoupled : {false, true}) {
    SCOPED_TRACE(decoupled ? "adamw" : "adam");
    check_updates(
        [&](backend::Backend& be, int64_t step, float* p, const float* g, float* m, float* v) {
          backend::AdamUpdate u;
          u.lr = 0.01f, u.weight_decay = decoupled ? 0.1f : 1e-3f, u.grad_scale = 1.0f / 32;
          u.decoupled_weight_decay = decoupled, u.step = step;
          be.adam_update(p, g, m, v, 4099, u);
        },
        rng);
  }
}

// --- device checks above the backend ----------------------------------------------------------

TEST_F(CudaBackendTest, ALayerWithWeightsOnTheGpuRejectsAnInputOnTheCpu) {
  nn::Dense dense(4, 3);
  for (nn::Parameter* p : dense.parameters()) {
    p->value = p->value.to(gpu_device());
    p->grad = Tensor::zeros(p->value.shape(), gpu_device());
  }
  const Tensor x = Tensor::zeros({2, 4});
  const std::string message = error_message([&] { dense.forward(x, {}); });
  EXPECT_NE(message.find("Dense: input is on cpu but the weight is on cuda:0"), std::string::npos)
      << message;
  // On the GPU the same call runs.
  EXPECT_EQ(dense.forward(x.to(gpu_device()), {}).device(), gpu_device());
}

TEST_F(CudaBackendTest, ALossRejectsOutputAndTargetOnDifferentDevices) {
  nn::CrossEntropyLoss loss;
  const Tensor output = Tensor::zeros({2, 3}, gpu_device());
  const Tensor target = Tensor::zeros({2});
  Tensor grad;
  const std::string message = error_message([&] { loss.forward_backward(output, target, grad); });
  EXPECT_NE(message.find("different devices"), std::string::npos) << message;
}

}  // namespace
}  // namespace lockstep::gpu_testing
