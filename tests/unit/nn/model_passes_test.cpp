// A step's passes through a Model, layer by layer: each pass's outputs and gradients are the
// bits a pass-by-pass run gives (dropout keyed by each pass's first sample), the engine's hooks
// come once per pass and layer and once per layer, and a rank without passes still walks every
// layer.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "lockstep/nn/layers.h"
#include "lockstep/nn/model.h"
#include "nn_test_helpers.h"
#include "support/test_support.h"

namespace lockstep::nn {
namespace {

using testing::bits;
using testing::random_tensor;

// Convolution, dropout, a residual Add and a Concatenate: every kind of saved state.
nlohmann::json branchy_spec() {
  return {{"name", "branchy"},
          {"input_shape", {2, 5, 5}},
          {"layers",
           {{{"type", "Conv2D"}, {"filters", 2}, {"kernel_size", 3}, {"padding", "same"}},
            {{"type", "ReLU"}, {"name", "a"}},
            {{"type", "DepthwiseConv2D"}, {"kernel_size", 3}, {"padding", "same"}},
            {{"type", "Dropout"}, {"rate", 0.5}, {"name", "b"}},
            {{"type", "Add"}, {"inputs", {"a", "b"}}, {"name", "sum"}},
            {{"type", "Concatenate"}, {"inputs", {"sum", "input"}}},
            {{"type", "MaxPool2D"}, {"pool_size", 2}},
            {{"type", "Flatten"}},
            {{"type", "Dense"}, {"units", 3}}}}};
}

TEST(ModelPassesTest, EachPassGetsTheBitsOfAPassByPassRun) {
  const auto layered = build_model(branchy_spec(), 7);
  const auto one_by_one = build_model(branchy_spec(), 7);
  const std::vector<Tensor> xs = {random_tensor({3, 2, 5, 5}, 1), random_tensor({2, 2, 5, 5}, 2),
                                  random_tensor({1, 2, 5, 5}, 3)};
  const ForwardContext context{.training = true, .seed = 5, .step = 2, .first_sample = 10};
  const std::vector<Tensor> ys = layered->forward_passes(xs, context);
  std::vector<Tensor> dys;
  for (size_t p = 0; p < ys.size(); ++p) dys.push_back(random_tensor(ys[p].shape(), 20 + p));
  std::vector<std::vector<float>> pass_grads;  // every parameter's grad, after each pass
  size_t pass_reports = 0;
  std::vector<size_t> layers_done;
  const std::vector<Tensor> dxs = layered->backward_passes(
      dys, {.pass_grads_done =
                [&](size_t layer) {
                  ++pass_reports;
                  if (layer == 0) pass_grads.push_back(layered->parameters()[0]->grad.to_vector());
                },
            .layer_done = [&](size_t layer) { layers_done.push_back(layer); }});
  EXPECT_EQ(pass_reports, xs.size() * layered->size());
  EXPECT_EQ(layers_done, (std::vector<size_t>{8, 7, 6, 5, 4, 3, 2, 1, 0}));
  // Backward takes the passes last in, first out.
  int64_t first_sample = 10;
  std::vector<int64_t> firsts;
  for (const Tensor& x : xs) {
    firsts.push_back(first_sample);
    first_sample += x.size(0);
  }
  for (size_t p = xs.size(); p-- > 0;) {
    ForwardContext pass_context = context;
    pass_context.first_sample = firsts[p];
    const Tensor y = one_by_one->forward(xs[p], pass_context);
    EXPECT_EQ(bits(y), bits(ys[p])) << "pass " << p;
    EXPECT_EQ(bits(one_by_one->backward(dys[p])), bits(dxs[p])) << "pass " << p;
    EXPECT_EQ(one_by_one->parameters()[0]->grad.to_vector(), pass_grads[xs.size() - 1 - p])
        << "pass " << p;
  }
}

TEST(ModelPassesTest, NoPassesStillWalkEveryLayer) {
  const auto model = build_model(branchy_spec(), 7);
  EXPECT_TRUE(model->forward_passes({}, {.training = true}).empty());
  std::vector<size_t> layers_done;
  size_t pass_reports = 0;
  EXPECT_TRUE(
      model
          ->backward_passes({}, {.pass_grads_done = [&](size_t) { ++pass_reports; },
                                 .layer_done = [&](size_t layer) { layers_done.push_back(layer); }})
          .empty());
  EXPECT_EQ(pass_reports, 0u);
  EXPECT_EQ(layers_done.size(), model->size());
}

TEST(ModelPassesTest, ALayerRefusesMoreBackwardsThanForwards) {
  Dense dense(4, 2);
  const Tensor x = random_tensor({3, 4}, 1);
  dense.forward(x, {});
  dense.backward(random_tensor({3, 2}, 2));
  test::expect_error_naming(
      [&] {
        dense.backward(random_tensor({3, 2}, 2));
      },
      {"Dense", "backward called before forward"});
  test::expect_error_naming([&] { dense.forward(x, {.pass = 2}); }, {"pass 2"});
}

}  // namespace
}  // namespace lockstep::nn
