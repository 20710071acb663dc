// The CUDA batch normalization ops against their CPU twins, and the BatchNorm layer on the GPU
// (sync passes, ghost passes, evaluation) against the same layer on the CPU; every test skips
// when no GPU answers.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "gpu/gpu_test.h"
#include "lockstep/backend/backend.h"
#include "lockstep/nn/batch_norm.h"
#include "lockstep/tensor/tensor.h"
#include "support/test_support.h"

namespace lockstep::gpu_testing {
namespace {

constexpr double kFp32 = 1e-5;

class CudaBatchNormTest : public GpuTest {};

// |a - b| / |b| for each sum, the largest.
double sums_error(const std::vector<double>& actual, const std::vector<double>& expected) {
  double worst = 0.0;
  for (size_t i = 0; i < actual.size(); ++i) {
    worst =
        std::max(worst, std::abs(actual[i] - expected[i]) / std::max(1e-30, std::abs(expected[i])));
  }
  return actual.size() == expected.size() ? worst : 1.0;
}

TEST_F(CudaBatchNormTest, OpsMatchTheCpu) {
  std::mt19937 rng(811);
  struct Case {
    int64_t batch, channels, spatial;
  };
  for (const Case c : {Case{5, 3, 20}, Case{16, 64, 49}, Case{7, 10, 1}, Case{1, 2, 784}}) {
    SCOPED_TRACE(::testing::Message() << c.batch << "x" << c.channels << "x" << c.spatial);
    const size_t n = static_cast<size_t>(c.batch * c.channels * c.spatial);
    const size_t ch = static_cast<size_t>(c.channels);
    const std::vector<float> x = random_floats(n, rng, -2.0f, 3.0f), dy = random_floats(n, rng);
    const std::vector<float> mean = random_floats(ch, rng),
                             rstd = random_floats(ch, rng, 0.5f, 2.0f);
    const std::vector<float> weight = random_floats(ch, rng), bias = random_floats(ch, rng);
    const std::vector<float> mean_dy = random_floats(ch, rng),
                             mean_dy_xhat = random_floats(ch, rng);
    std::vector<double> sums(2 * ch), grad_sums(2 * ch);
    std::vector<float> y(n), dx(n);
    cpu().batch_norm_sums(x.data(), c.batch, c.channels, c.spatial, sums.data());
    cpu().batch_norm_forward(x.data(), mean.data(), rstd.data(), weight.data(), bias.data(),
                             y.data(), c.batch, c.channels, c.spatial);
    cpu().batch_norm_backward_sums(x.data(), dy.data(), mean.data(), rstd.data(), c.batch,
                                   c.channels, c.spatial, grad_sums.data());
    cpu().batch_norm_backward_input(x.data(), dy.data(), mean.data(), rstd.data(), weight.data(),
                                    mean_dy.data(), mean_dy_xhat.data(), dx.data(), c.batch,
                                    c.channels, c.spatial);
    DeviceBuffer<float> dev_x(x), dev_dy(dy), dev_mean(mean), dev_rstd(rstd), dev_w(weight),
        dev_b(bias), dev_mdy(mean_dy), dev_mdyx(mean_dy_xhat), dev_y(n), dev_dx(n);
    DeviceBuffer<double> dev_sums(2 * ch), dev_grad_sums(2 * ch);
    gpu().batch_norm_sums(dev_x.get(), c.batch, c.channels, c.spatial, dev_sums.get());
    gpu().batch_norm_forward(dev_x.get(), dev_mean.get(), dev_rstd.get(), dev_w.get(), dev_b.get(),
                             dev_y.get(), c.batch, c.channels, c.spatial);
    gpu().batch_norm_backward_sums(dev_x.get(), dev_dy.get(), dev_mean.get(), dev_rstd.get(),
                                   c.batch, c.channels, c.spatial, dev_grad_sums.get());
    gpu().batch_norm_backward_input(dev_x.get(), dev_dy.get(), dev_mean.get(), dev_rstd.get(),
                                    dev_w.get(), dev_mdy.get(), dev_mdyx.get(), dev_dx.get(),
                                    c.batch, c.channels, c.spatial);
    EXPECT_LE(sums_error(dev_sums.download(), sums), 1e-12);
    EXPECT_LE(sums_error(dev_grad_sums.download(), grad_sums), 1e-9);
    // Elementwise, the same float operations in the same order: the same bits.
    EXPECT_EQ(dev_y.download(), y);
    EXPECT_EQ(dev_dx.download(), dx);
  }
}

TEST_F(CudaBatchNormTest, EmptyBatchGivesZeroSumsAndBadArgumentsAreRefused) {
  DeviceBuffer<double> dev_sums(std::vector<double>(6, 7.0));
  gpu().batch_norm_sums(nullptr, 0, 3, 4, dev_sums.get());
  EXPECT_EQ(dev_sums.download(), std::vector<double>(6, 0.0));
  gpu().batch_norm_backward_sums(nullptr, nullptr, nullptr, nullptr, 0, 3, 4, dev_sums.get());
  EXPECT_EQ(dev_sums.download(), std::vector<double>(6, 0.0));
  EXPECT_EQ(error_message([&] { gpu().batch_norm_sums(nullptr, 1, 0, 4, dev_sums.get()); }),
            error_message([&] { cpu().batch_norm_sums(nullptr, 1, 0, 4, nullptr); }));
}

// The layer on the GPU against the layer on the CPU: two sync passes, then two ghost passes,
// then evaluation; outputs, input gradients, parameter gradients, running statistics.
TEST_F(CudaBatchNormTest, TheLayerMatchesTheCpu) {
  std::mt19937 rng(812);
  for (const nn::BatchNormMode mode : {nn::BatchNormMode::kSync, nn::BatchNormMode::kGhost}) {
    SCOPED_TRACE(nn::batch_norm_mode_name(mode));
    nn::BatchNorm on_cpu(4, 0.1, 1e-5, mode), on_gpu(4, 0.1, 1e-5, mode);
    const Tensor weight = Tensor::from_vector({4}, random_floats(4, rng, 0.5f, 1.5f));
    on_cpu.weight().value.copy_from(weight);
    on_gpu.weight().value = weight.to(gpu_device());
    on_gpu.weight().grad = Tensor::zeros({4}, gpu_device());
    on_gpu.bias().value = Tensor::zeros({4}, gpu_device());
    on_gpu.bias().grad = Tensor::zeros({4}, gpu_device());
    on_gpu.running_mean().value = on_gpu.running_mean().value.to(gpu_device());
    on_gpu.running_var().value = on_gpu.running_var().value.to(gpu_device());
    std::vector<Tensor> xs, dys, gpu_xs, gpu_dys;
    for (int64_t rows : {6, 3}) {
      xs.push_back(Tensor::from_vector(
          {rows, 4, 5, 5}, random_floats(static_cast<size_t>(rows * 100), rng, -1.0f, 2.0f)));
      dys.push_back(Tensor::from_vector({rows, 4, 5, 5},
                                        random_floats(static_cast<size_t>(rows * 100), rng)));
      gpu_xs.push_back(xs.back().to(gpu_device()));
      gpu_dys.push_back(dys.back().to(gpu_device()));
    }
    const nn::ForwardContext train{.training = true};
    const std::vector<Tensor> ys = on_cpu.forward_passes(xs, train);
    const std::vector<Tensor> gpu_ys = on_gpu.forward_passes(gpu_xs, train);
    std::vector<std::vector<float>> grads, gpu_grads;
    const std::vector<Tensor> dxs = on_cpu.backward_passes(
        dys, [&](int) { grads.push_back(on_cpu.weight().grad.to_vector()); });
    const std::vector<Tensor> gpu_dxs = on_gpu.backward_passes(
        gpu_dys, [&](int) { gpu_grads.push_back(on_gpu.weight().grad.to_vector()); });
    for (size_t p = 0; p < xs.size(); ++p) {
      EXPECT_LE(relative_error(gpu_ys[p].to_vector(), ys[p].to_vector()), kFp32);
      EXPECT_LE(relative_error(gpu_dxs[p].to_vector(), dxs[p].to_vector()), kFp32);
      EXPECT_LE(relative_error(gpu_grads[p], grads[p]), kFp32);
    }
    EXPECT_LE(relative_error(on_gpu.running_mean().value.to_vector(),
                             on_cpu.running_mean().value.to_vector()),
              1e-6);
    EXPECT_LE(relative_error(on_gpu.running_var().value.to_vector(),
                             on_cpu.running_var().value.to_vector()),
              1e-6);
    const Tensor eval = on_cpu.forward(xs[0], {});
    EXPECT_LE(relative_error(on_gpu.forward(gpu_xs[0], {}).to_vector(), eval.to_vector()), kFp32);
  }
}

}  // namespace
}  // namespace lockstep::gpu_testing
