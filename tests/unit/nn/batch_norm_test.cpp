// BatchNorm: training forward against PyTorch's definition computed in double, PyTorch's
// running-statistics update, evaluation with the running statistics, finite differences, sync
// passes normalised by the whole step and ghost passes by their own, the gathers a rank joins
// also without passes, spec fields and names.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lockstep/nn/layers.h"
#include "lockstep/nn/model.h"
#include "nn_test_helpers.h"
#include "support/test_support.h"

namespace lockstep::nn {
namespace {

using test::expect_error_naming;
using test::expect_gradients_match;
using testing::all_close;
using testing::bits;
using testing::random_tensor;

const ForwardContext kTrain{.training = true};
const ForwardContext kEval{};

// Mean and biased variance of each channel of x [N, C, ...], in double.
struct ChannelMoments {
  std::vector<double> mean, variance;
};

ChannelMoments moments(const Tensor& x) {
  const int64_t n = x.size(0), c = x.size(1), spatial = x.numel() / (n * c);
  const std::vector<float> v = x.to_vector();
  ChannelMoments m{std::vector<double>(c, 0.0), std::vector<double>(c, 0.0)};
  for (int64_t ch = 0; ch < c; ++ch) {
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t s = 0; s < spatial; ++s) m.mean[ch] += v[(i * c + ch) * spatial + s];
    }
    m.mean[ch] /= static_cast<double>(n * spatial);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t s = 0; s < spatial; ++s) {
        const double d = v[(i * c + ch) * spatial + s] - m.mean[ch];
        m.variance[ch] += d * d;
      }
    }
    m.variance[ch] /= static_cast<double>(n * spatial);
  }
  return m;
}

// (x - mean) / sqrt(variance + eps) * weight + bias per channel, in double.
Tensor naive_batch_norm(const Tensor& x, const std::vector<double>& mean,
                        const std::vector<double>& variance, const Tensor& weight,
                        const Tensor& bias, double eps) {
  const int64_t n = x.size(0), c = x.size(1), spatial = x.numel() / (n * c);
  const std::vector<float> v = x.to_vector(), w = weight.to_vector(), b = bias.to_vector();
  std::vector<float> out(v.size());
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t ch = 0; ch < c; ++ch) {
      for (int64_t s = 0; s < spatial; ++s) {
        const size_t at = static_cast<size_t>((i * c + ch) * spatial + s);
        out[at] =
            static_cast<float>((v[at] - mean[ch]) / std::sqrt(variance[ch] + eps) * w[ch] + b[ch]);
      }
    }
  }
  return Tensor::from_vector(x.shape(), out);
}

// Channels with different offsets and spreads, so a mix-up of channels shows.
Tensor images(int64_t n, uint64_t seed) {
  Tensor x = random_tensor({n, 3, 4, 5}, seed);
  float* data = x.data();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t channel = (i / 20) % 3;
    data[i] = data[i] * static_cast<float>(channel + 1) + static_cast<float>(2 * channel - 1);
  }
  return x;
}

void set_affine(BatchNorm& bn) {
  bn.weight().value.copy_from(Tensor::from_vector({3}, std::vector<float>{0.5f, -1.5f, 2.0f}));
  bn.bias().value.copy_from(Tensor::from_vector({3}, std::vector<float>{0.25f, 0.0f, -1.0f}));
}

TEST(BatchNormTest, TrainingNormalisesEachChannelByTheBatchStatistics) {
  BatchNorm bn(3);
  set_affine(bn);
  const Tensor x = images(6, 1);
  const ChannelMoments m = moments(x);
  EXPECT_TRUE(
      all_close(bn.forward(x, kTrain),
                naive_batch_norm(x, m.mean, m.variance, bn.weight().value, bn.bias().value, 1e-5),
                1e-5, 1e-5));
}

TEST(BatchNormTest, FeaturesOfFlatInputsAreChannels) {
  BatchNorm bn(3, 0.1, 1e-3);
  set_affine(bn);
  const Tensor x = random_tensor({7, 3}, 2, -2.0f, 3.0f);
  const ChannelMoments m = moments(x);
  EXPECT_TRUE(
      all_close(bn.forward(x, kTrain),
                naive_batch_norm(x, m.mean, m.variance, bn.weight().value, bn.bias().value, 1e-3),
                1e-5, 1e-5));
}

TEST(BatchNormTest, RunningStatisticsFollowPyTorchsUpdate) {
  BatchNorm bn(3, 0.25);
  const Tensor x = images(4, 3);
  const ChannelMoments m = moments(x);
  const double count = 4 * 20;
  bn.forward(x, kTrain);
  std::vector<float> mean, variance;
  for (int c = 0; c < 3; ++c) {
    mean.push_back(static_cast<float>(0.25 * m.mean[c]));
    variance.push_back(static_cast<float>(0.75 + 0.25 * m.variance[c] * count / (count - 1)));
  }
  EXPECT_TRUE(all_close(bn.running_mean().value, Tensor::from_vector({3}, mean), 1e-6, 1e-7));
  EXPECT_TRUE(all_close(bn.running_var().value, Tensor::from_vector({3}, variance), 1e-6, 1e-7));
}

TEST(BatchNormTest, EvaluationUsesTheRunningStatisticsAndLeavesThem) {
  BatchNorm bn(3);
  set_affine(bn);
  bn.running_mean().value.copy_from(
      Tensor::from_vector({3}, std::vector<float>{0.5f, -1.0f, 2.0f}));
  bn.running_var().value.copy_from(Tensor::from_vector({3}, std::vector<float>{4.0f, 0.25f, 1.0f}));
  const Tensor x = images(3, 4);
  const Tensor y = bn.forward(x, kEval);
  EXPECT_TRUE(all_close(y,
                        naive_batch_norm(x, {0.5, -1.0, 2.0}, {4.0, 0.25, 1.0}, bn.weight().value,
                                         bn.bias().value, 1e-5),
                        1e-5, 1e-6));
  EXPECT_EQ(bn.running_mean().value.to_vector(), (std::vector<float>{0.5f, -1.0f, 2.0f}));
  EXPECT_EQ(bn.running_var().value.to_vector(), (std::vector<float>{4.0f, 0.25f, 1.0f}));
}

TEST(BatchNormTest, TrainingGradientsMatchFiniteDifferences) {
  BatchNorm images_bn(3);
  set_affine(images_bn);
  expect_gradients_match(images_bn, images(4, 5), kTrain);
  BatchNorm features_bn(3);
  set_affine(features_bn);
  expect_gradients_match(features_bn, random_tensor({9, 3}, 6), kTrain);
}

TEST(BatchNormTest, EvaluationGradientsMatchFiniteDifferences) {
  BatchNorm bn(3);
  set_affine(bn);
  bn.running_mean().value.copy_from(
      Tensor::from_vector({3}, std::vector<float>{0.5f, -1.0f, 2.0f}));
  bn.running_var().value.copy_from(Tensor::from_vector({3}, std::vector<float>{4.0f, 0.25f, 1.0f}));
  expect_gradients_match(bn, images(3, 7), kEval);
}

// The grads of each pass, added up: what the engine's reducer sums.
struct PassGrads {
  std::vector<double> weight, bias;
  void add(BatchNorm& bn) {
    const std::vector<float> w = bn.weight().grad.to_vector(), b = bn.bias().grad.to_vector();
    weight.resize(w.size(), 0.0);
    bias.resize(b.size(), 0.0);
    for (size_t i = 0; i < w.size(); ++i) {
      weight[i] += w[i];
      bias[i] += b[i];
    }
  }
};

TEST(BatchNormTest, SyncPassesAreNormalisedByTheWholeStep) {
  const Tensor a = images(3, 8), b = images(2, 9);
  Tensor whole = Tensor::empty({5, 3, 4, 5});
  whole.rows(0, 3).copy_from(a);
  whole.rows(3, 5).copy_from(b);
  const Tensor da = random_tensor(a.shape(), 10), db = random_tensor(b.shape(), 11);
  Tensor dwhole = Tensor::empty(whole.shape());
  dwhole.rows(0, 3).copy_from(da);
  dwhole.rows(3, 5).copy_from(db);

  BatchNorm one(3), passes(3);
  set_affine(one);
  set_affine(passes);
  const Tensor y = one.forward(whole, kTrain);
  const Tensor dx = one.backward(dwhole);
  const std::vector<Tensor> ys = passes.forward_passes({a, b}, kTrain);
  PassGrads grads;
  int calls = 0;
  const std::vector<Tensor> dxs = passes.backward_passes({da, db}, [&](int pass) {
    EXPECT_EQ(pass, calls++);
    grads.add(passes);
  });
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(all_close(ys[0], y.rows(0, 3), 1e-6, 1e-6));
  EXPECT_TRUE(all_close(ys[1], y.rows(3, 5), 1e-6, 1e-6));
  EXPECT_TRUE(all_close(dxs[0], dx.rows(0, 3), 1e-5, 1e-6));
  EXPECT_TRUE(all_close(dxs[1], dx.rows(3, 5), 1e-5, 1e-6));
  const std::vector<float> weight_grad = one.weight().grad.to_vector();
  for (size_t c = 0; c < 3; ++c) EXPECT_NEAR(grads.weight[c], weight_grad[c], 1e-4);
  EXPECT_TRUE(all_close(passes.running_mean().value, one.running_mean().value, 1e-6, 1e-7));
  EXPECT_TRUE(all_close(passes.running_var().value, one.running_var().value, 1e-6, 1e-7));
}

TEST(BatchNormTest, GhostPassesAreNormalisedByTheirOwnStatistics) {
  const Tensor a = images(3, 12), b = images(2, 13);
  BatchNorm ghost(3, 0.1, 1e-5, BatchNormMode::kGhost), first(3), second(3);
  for (BatchNorm* bn : {&ghost, &first, &second}) set_affine(*bn);
  const std::vector<Tensor> ys = ghost.forward_passes({a, b}, kTrain);
  EXPECT_EQ(bits(ys[0]), bits(first.forward(a, kTrain)));
  EXPECT_EQ(bits(ys[1]), bits(second.forward(b, kTrain)));
  const Tensor da = random_tensor(a.shape(), 14), db = random_tensor(b.shape(), 15);
  const std::vector<Tensor> dxs = ghost.backward_passes({da, db}, [](int) {});
  EXPECT_EQ(bits(dxs[0]), bits(first.backward(da)));
  EXPECT_EQ(bits(dxs[1]), bits(second.backward(db)));
  // The running statistics take one update per pass, in order.
  BatchNorm sequential(3, 0.1, 1e-5, BatchNormMode::kGhost);
  sequential.forward(a, kTrain);
  sequential.forward(b, kTrain);
  EXPECT_EQ(bits(ghost.running_mean().value), bits(sequential.running_mean().value));
  EXPECT_EQ(bits(ghost.running_var().value), bits(sequential.running_var().value));
}

// Counts the gathers and passes this rank's sums through (a world of one).
class CountingPartials final : public StepPartials {
 public:
  std::vector<double> gather(const std::vector<double>& mine, int64_t /*width*/) override {
    ++gathers;
    return mine;
  }
  int gathers = 0;
};

TEST(BatchNormTest, ARankWithoutPassesStillJoinsTheGathers) {
  CountingPartials partials;
  ForwardContext context = kTrain;
  context.partials = &partials;
  BatchNorm sync(3), ghost(3, 0.1, 1e-5, BatchNormMode::kGhost);
  EXPECT_TRUE(sync.forward_passes({}, context).empty());
  EXPECT_EQ(partials.gathers, 1);
  EXPECT_TRUE(sync.backward_passes({}, [](int) {}).empty());
  EXPECT_EQ(partials.gathers, 2) << "sync: one gather forward, one backward";
  ghost.forward_passes({}, context);
  ghost.backward_passes({}, [](int) {});
  EXPECT_EQ(partials.gathers, 3) << "ghost: the running statistics' gather only";
  EXPECT_EQ(sync.running_mean().value.to_vector(), std::vector<float>(3, 0.0f));
  sync.forward_passes({}, kEval);
  EXPECT_EQ(partials.gathers, 3) << "evaluation gathers nothing";
}

TEST(BatchNormTest, SpecFieldsBuffersAndErrors) {
  const nlohmann::json spec = {
      {"name", "bn"},
      {"input_shape", {2, 3, 3}},
      {"layers",
       {{{"type", "Conv2D"}, {"filters", 4}, {"kernel_size", 1}, {"use_bias", false}},
        {{"type", "BatchNorm"}, {"momentum", 0.2}, {"mode", "ghost"}},
        {{"type", "Flatten"}},
        {{"type", "BatchNorm"}}}}};
  const auto model = build_model(spec, 1);
  EXPECT_EQ(model->spec(), build_model(model->spec(), 1)->spec());
  auto& bn = dynamic_cast<BatchNorm&>(model->layer(1));
  EXPECT_EQ(bn.mode(), BatchNormMode::kGhost);
  EXPECT_EQ(bn.config().at("momentum"), 0.2);
  std::vector<std::string> names;
  for (Buffer* b : model->buffers()) names.push_back(b->name);
  EXPECT_EQ(names, (std::vector<std::string>{"1.running_mean", "1.running_var", "3.running_mean",
                                             "3.running_var"}));
  EXPECT_EQ(model->parameters().at(1)->name, "1.weight");
  EXPECT_EQ(dynamic_cast<BatchNorm&>(model->layer(3)).channels(), 36);
  nlohmann::json bad = spec;
  bad["layers"][1]["mode"] = "local";
  expect_error_naming([&] { build_model(bad, 1); }, {"layers[1]", "mode", "local"});
  bad = spec;
  bad["layers"][1]["momentum"] = 1.5;
  expect_error_naming([&] { build_model(bad, 1); }, {"layers[1]", "momentum"});
  expect_error_naming([] { BatchNorm(0); }, {"channels"});
  BatchNorm three(3);
  expect_error_naming(
      [&] {
        three.forward(random_tensor({2, 4, 2, 2}, 1), kTrain);
      },
      {"BatchNorm", "[4, 2, 2]", "[3]"});
  expect_error_naming([&] { three.backward(random_tensor({2, 3}, 1)); }, {"BatchNorm"});
}

}  // namespace
}  // namespace lockstep::nn
