// The CUDA depthwise convolution and layer normalization against their CPU twins, and the four
// layers that use them on the GPU against the same layers on the CPU; every test skips when no
// GPU answers.
#include <gtest/gtest.h>

#include <random>
#include <utility>
#include <vector>

#include "gpu/gpu_test.h"
#include "lockstep/backend/backend.h"
#include "lockstep/nn/layers.h"
#include "lockstep/tensor/tensor.h"
#include "support/conv_cases.h"
#include "support/test_support.h"

namespace lockstep::gpu_testing {
namespace {

using backend::ConvGeometry;
using testing::bits;
using testing::conv_geometry;
using testing::DepthwiseCase;
using testing::DepthwiseData;

constexpr double kFp32 = 1e-5;

class CudaDepthwiseTest : public GpuTest {};
class CudaLayerNormTest : public GpuTest {};
class CudaNewLayersTest : public GpuTest {};

TEST_F(CudaDepthwiseTest, ForwardAndBackwardMatchTheCpu) {
  std::mt19937 rng(701);
  for (const DepthwiseCase& c :
       {DepthwiseCase{conv_geometry(3, 9, 11, 3, 3, 1, 1, 1, 1), 1, 1},
        DepthwiseCase{conv_geometry(4, 10, 7, 3, 2, 2, 1, 1, 0), 5, 3},
        DepthwiseCase{conv_geometry(2, 8, 8, 2, 2, 3, 3, 0, 0), 3, 2},
        DepthwiseCase{conv_geometry(64, 14, 14, 3, 3, 1, 1, 1, 1), 16, 1}}) {
    const ConvGeometry& g = c.g;
    SCOPED_TRACE(::testing::Message() << "batch " << c.batch << " of " << g.channels << "x"
                                      << g.height << "x" << g.width << ", kernel " << g.kernel_h
                                      << "x" << g.kernel_w << ", multiplier " << c.multiplier);
    const size_t x_size = c.x_size(), y_size = c.y_size(), w_size = c.w_size();
    const DepthwiseData data = testing::random_data(c, rng);
    const std::vector<float>&x = data.x, &w = data.w, &bias = data.bias, &dy = data.dy;
    std::vector<float> y(y_size), dw(w_size), dx(x_size);
    cpu().depthwise_conv2d_forward(x.data(), c.batch, g, c.multiplier, w.data(), bias.data(),
                                   y.data());
    cpu().depthwise_conv2d_backward(x.data(), dy.data(), c.batch, g, c.multiplier, w.data(),
                                    dw.data(), dx.data());
    DeviceBuffer<float> dev_x(x), dev_w(w), dev_bias(bias), dev_dy(dy);
    DeviceBuffer<float> dev_y(y_size), dev_dw(std::vector<float>(w_size, 7.0f)), dev_dx(x_size);
    gpu().depthwise_conv2d_forward(dev_x.get(), c.batch, g, c.multiplier, dev_w.get(),
                                   dev_bias.get(), dev_y.get());
    gpu().depthwise_conv2d_backward(dev_x.get(), dev_dy.get(), c.batch, g, c.multiplier,
                                    dev_w.get(), dev_dw.get(), dev_dx.get());
    EXPECT_LE(relative_error(dev_y.download(), y), kFp32);
    EXPECT_LE(relative_error(dev_dw.download(), dw), 1e-6);
    EXPECT_LE(relative_error(dev_dx.download(), dx), kFp32);
    // Without a bias.
    cpu().depthwise_conv2d_forward(x.data(), c.batch, g, c.multiplier, w.data(), nullptr, y.data());
    gpu().depthwise_conv2d_forward(dev_x.get(), c.batch, g, c.multiplier, dev_w.get(), nullptr,
                                   dev_y.get());
    EXPECT_LE(relative_error(dev_y.download(), y), kFp32);
  }
}

TEST_F(CudaDepthwiseTest, EmptyBatchAndBadArgumentsBehaveAsOnTheCpu) {
  DeviceBuffer<float> dev_dw(std::vector<float>(18, 7.0f));
  const ConvGeometry g = conv_geometry(1, 4, 4, 3, 3, 1, 1, 0, 0);
  gpu().depthwise_conv2d_backward(nullptr, nullptr, 0, g, 2, nullptr, dev_dw.get(), nullptr);
  EXPECT_EQ(dev_dw.download(), std::vector<float>(18, 0.0f));
  float unused = 0.0f;
  const ConvGeometry too_big = conv_geometry(1, 2, 2, 3, 3, 1, 1, 0, 0);
  EXPECT_EQ(error_message([&] {
              gpu().depthwise_conv2d_forward(&unused, 1, too_big, 1, &unused, nullptr, &unused);
            }),
            error_message([&] {
              cpu().depthwise_conv2d_forward(&unused, 1, too_big, 1, &unused, nullptr, &unused);
            }));
  EXPECT_EQ(error_message([&] {
              gpu().depthwise_conv2d_backward(&unused, &unused, 1, g, 0, &unused, &unused, &unused);
            }),
            error_message([&] {
              cpu().depthwise_conv2d_backward(&unused, &unused, 1, g, 0, &unused, &unused, &unused);
            }));
}

TEST_F(CudaLayerNormTest, ForwardAndBackwardMatchTheCpu) {
  std::mt19937 rng(702);
  for (const auto& [rows, cols] :
       {std::pair<int64_t, int64_t>{7, 5}, {16, 1000}, {3, 12544}, {1, 1}}) {
    for (const bool affine : {true, false}) {
      SCOPED_TRACE(::testing::Message() << rows << "x" << cols << (affine ? " affine" : ""));
      const size_t n = static_cast<size_t>(rows * cols);
      const std::vector<float> x = random_floats(n, rng, -3.0f, 2.0f);
      const std::vector<float> dy = random_floats(n, rng);
      const std::vector<float> w = random_floats(static_cast<size_t>(cols), rng, 0.5f, 1.5f);
      const std::vector<float> b = random_floats(static_cast<size_t>(cols), rng);
      std::vector<float> y(n), mean(rows), rstd(rows), dx(n), dw(cols), db(cols);
      cpu().layer_norm_forward(x.data(), affine ? w.data() : nullptr, affine ? b.data() : nullptr,
                               y.data(), mean.data(), rstd.data(), rows, cols, 1e-5f);
      cpu().layer_norm_backward(x.data(), dy.data(), affine ? w.data() : nullptr, mean.data(),
                                rstd.data(), dx.data(), affine ? dw.data() : nullptr,
                                affine ? db.data() : nullptr, rows, cols);
      DeviceBuffer<float> dev_x(x), dev_dy(dy), dev_w(w), dev_b(b), dev_y(n), dev_mean(rows),
          dev_rstd(rows), dev_dx(n), dev_dw(cols), dev_db(cols);
      gpu().layer_norm_forward(dev_x.get(), affine ? dev_w.get() : nullptr,
                               affine ? dev_b.get() : nullptr, dev_y.get(), dev_mean.get(),
                               dev_rstd.get(), rows, cols, 1e-5f);
      // Backward from the CPU's statistics, so that the comparison isolates backward.
      dev_mean.upload(mean);
      dev_rstd.upload(rstd);
      gpu().layer_norm_backward(dev_x.get(), dev_dy.get(), affine ? dev_w.get() : nullptr,
                                dev_mean.get(), dev_rstd.get(), dev_dx.get(),
                                affine ? dev_dw.get() : nullptr, affine ? dev_db.get() : nullptr,
                                rows, cols);
      EXPECT_LE(relative_error(dev_y.download(), y), kFp32);
      EXPECT_LE(relative_error(dev_dx.download(), dx), kFp32);
      if (affine) {
        // One thread per column in row order, in double: the CPU's sums exactly.
        EXPECT_EQ(dev_dw.download(), dw);
        EXPECT_EQ(dev_db.download(), db);
      }
    }
  }
}

TEST_F(CudaLayerNormTest, NoRowsAndBadArgumentsBehaveAsOnTheCpu) {
  DeviceBuffer<float> dev_dw(std::vector<float>(4, 7.0f)), dev_db(std::vector<float>(4, 7.0f));
  gpu().layer_norm_backward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, dev_dw.get(),
                            dev_db.get(), 0, 4);
  EXPECT_EQ(dev_dw.download(), std::vector<float>(4, 0.0f));
  EXPECT_EQ(dev_db.download(), std::vector<float>(4, 0.0f));
  float v = 0.0f;
  EXPECT_EQ(
      error_message([&] { gpu().layer_norm_forward(&v, &v, nullptr, &v, &v, &v, 1, 1, 1e-5f); }),
      error_message([&] { cpu().layer_norm_forward(&v, &v, nullptr, &v, &v, &v, 1, 1, 1e-5f); }));
  EXPECT_EQ(error_message(
                [&] { gpu().layer_norm_forward(&v, nullptr, nullptr, &v, &v, &v, 1, 1, 0.0f); }),
            error_message(
                [&] { cpu().layer_norm_forward(&v, nullptr, nullptr, &v, &v, &v, 1, 1, 0.0f); }));
}

// Each layer on the GPU against the same layer (same weights) on the CPU: output, input
// gradient and parameter gradients; and on the GPU a row's output and input gradient are the
// same bits alone as in its batch (the depthwise, pooling and normalisation kernels).
TEST_F(CudaNewLayersTest, LayersMatchTheCpuAndARowDoesNotDependOnItsBatch) {
  std::mt19937 rng(703);
  struct Pair {
    std::unique_ptr<nn::Layer> cpu_layer, gpu_layer;
    Shape input;
  };
  std::vector<Pair> pairs;
  pairs.push_back({std::make_unique<nn::DepthwiseConv2D>(4, 3, 3, 2, 1, 1, 1, 2),
                   std::make_unique<nn::DepthwiseConv2D>(4, 3, 3, 2, 1, 1, 1, 2),
                   Shape{5, 4, 9, 8}});
  pairs.push_back({std::make_unique<nn::SeparableConv2D>(4, 6, 3, 3, 1, 1, 1, 1, 2),
                   std::make_unique<nn::SeparableConv2D>(4, 6, 3, 3, 1, 1, 1, 1, 2),
                   Shape{5, 4, 9, 8}});
  pairs.push_back({std::make_unique<nn::GlobalAveragePooling2D>(),
                   std::make_unique<nn::GlobalAveragePooling2D>(), Shape{5, 4, 9, 8}});
  pairs.push_back({std::make_unique<nn::LayerNorm>(Shape{4, 9, 8}),
                   std::make_unique<nn::LayerNorm>(Shape{4, 9, 8}), Shape{5, 4, 9, 8}});
  const nn::ForwardContext context{};
  for (Pair& pair : pairs) {
    SCOPED_TRACE(pair.cpu_layer->type());
    const std::vector<nn::Parameter*> cpu_params = pair.cpu_layer->parameters();
    const std::vector<nn::Parameter*> gpu_params = pair.gpu_layer->parameters();
    for (size_t i = 0; i < cpu_params.size(); ++i) {
      const Tensor value = Tensor::from_vector(
          cpu_params[i]->value.shape(),
          random_floats(static_cast<size_t>(cpu_params[i]->value.numel()), rng));
      cpu_params[i]->value.copy_from(value);
      gpu_params[i]->value = value.to(gpu_device());
      gpu_params[i]->grad = Tensor::zeros(value.shape(), gpu_device());
    }
    const Tensor x = Tensor::from_vector(
        pair.input, random_floats(static_cast<size_t>(shape_numel(pair.input)), rng));
    const Tensor y = pair.cpu_layer->forward(x, context);
    const Tensor dy =
        Tensor::from_vector(y.shape(), random_floats(static_cast<size_t>(y.numel()), rng));
    const Tensor dx = pair.cpu_layer->backward(dy);
    const Tensor gpu_y = pair.gpu_layer->forward(x.to(gpu_device()), context).clone();
    const Tensor gpu_dy = dy.to(gpu_device());
    const Tensor gpu_dx = pair.gpu_layer->backward(gpu_dy).clone();
    EXPECT_LE(relative_error(gpu_y.to_vector(), y.to_vector()), kFp32);
    EXPECT_LE(relative_error(gpu_dx.to_vector(), dx.to_vector()), kFp32);
    for (size_t i = 0; i < cpu_params.size(); ++i) {
      EXPECT_LE(relative_error(gpu_params[i]->grad.to_vector(), cpu_params[i]->grad.to_vector()),
                kFp32)
          << cpu_params[i]->name;
    }
    // SeparableConv2D's pointwise part is the batched convolution, whose GEMMs cover several
    // images (cuBLAS may pick another kernel for another width); the engine calls it with the
    // same micro-batches on any number of ranks, so only its own kernels are held to this.
    if (pair.cpu_layer->type() == "SeparableConv2D") continue;
    for (const auto& [begin, end] : {std::pair<int64_t, int64_t>{0, 1}, {2, 5}}) {
      const Tensor part_y =
          pair.gpu_layer->forward(x.rows(begin, end).clone().to(gpu_device()), context).clone();
      const Tensor part_dx = pair.gpu_layer->backward(gpu_dy.rows(begin, end).clone());
      EXPECT_EQ(bits(part_y), bits(gpu_y.rows(begin, end))) << "rows " << begin;
      EXPECT_EQ(bits(part_dx), bits(gpu_dx.rows(begin, end))) << "rows " << begin;
    }
  }
}

}  // namespace
}  // namespace lockstep::gpu_testing
