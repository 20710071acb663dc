// The fused update over contiguous parameters: when values and grads lie end to end in memory
// (as DataParallel lays them out), one update call covers the run, the slots get the same
// layout, and the weights and state equal those of one call per parameter, bit for bit, for
// every optimizer; gaps split runs; state loaded as separate tensors is laid out at the next
// step and continues exactly.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "lockstep/optim/slot_optimizer.h"
#include "optim_test_helpers.h"

namespace lockstep::optim {
namespace {

using testing::bit_identical;

const std::vector<Shape> kShapes = {{3, 4}, {4}, {5, 2}, {1}};

// Parameters of kShapes with their initial values: each its own tensors, or (contiguous)
// views into one value and one grad buffer, laid out in reverse order as the gradient buckets
// do, with `gap` spare elements after the second one (splitting the run in two).
std::vector<nn::Parameter> make_parameters(bool contiguous, int64_t gap = 0) {
  std::vector<nn::Parameter> parameters;
  for (size_t i = 0; i < kShapes.size(); ++i) {
    std::string name = "p";
    name += std::to_string(i);
    parameters.push_back(testing::make_parameter(name, kShapes[i]));
  }
  if (!contiguous) return parameters;
  int64_t total = gap;
  for (const Shape& shape : kShapes) total += shape_numel(shape);
  const Tensor values = Tensor::zeros({total}), grads = Tensor::zeros({total});
  int64_t offset = 0;
  for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) {
    const int64_t n = it->value.numel();
    Tensor value = values.rows(offset, offset + n).reshape(it->value.shape());
    value.copy_from(it->value);
    it->value = value;
    it->grad = grads.rows(offset, offset + n).reshape(it->value.shape());
    offset += n + (it == parameters.rbegin() + 1 ? gap : 0);
  }
  return parameters;
}

std::vector<nn::Parameter*> pointers(std::vector<nn::Parameter>& parameters) {
  std::vector<nn::Parameter*> out;
  for (nn::Parameter& p : parameters) out.push_back(&p);
  return out;
}

void steps(Optimizer& optimizer, std::vector<nn::Parameter>& parameters, int first, int last) {
  for (int t = first; t <= last; ++t) {
    for (nn::Parameter& p : parameters) {
      p.grad.copy_from(Tensor::from_vector(
          p.grad.shape(), testing::gradient_at(t, static_cast<int>(p.grad.numel()))));
    }
    optimizer.step(pointers(parameters), 0.25f);
  }
}

SlotOptimizer& slots_of(Optimizer& optimizer) { return dynamic_cast<SlotOptimizer&>(optimizer); }

void expect_same(std::vector<nn::Parameter>& a, std::vector<nn::Parameter>& b, Optimizer& oa,
                 Optimizer& ob) {
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(bit_identical(a[i].value, b[i].value)) << a[i].name;
  }
  const NamedTensors sa = oa.state(), sb = ob.state();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].name, sb[i].name);
    EXPECT_TRUE(bit_identical(sa[i].tensor, sb[i].tensor)) << sa[i].name;
  }
}

struct Case {
  std::string optimizer;
  nlohmann::json hyperparameters;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.optimizer << " " << c.hyperparameters; }

class FusedUpdateTest : public ::testing::TestWithParam<Case> {
 protected:
  std::unique_ptr<Optimizer> make() const {
    return make_optimizer(GetParam().optimizer, GetParam().hyperparameters);
  }
};

TEST_P(FusedUpdateTest, OneCallPerContiguousRunGivesTheSeparateCallsResultBitwise) {
  std::vector<nn::Parameter> separate = make_parameters(false), fused = make_parameters(true);
  const std::unique_ptr<Optimizer> by_parameter = make(), by_run = make();
  steps(*by_parameter, separate, 1, 4);
  steps(*by_run, fused, 1, 4);
  EXPECT_EQ(slots_of(*by_parameter).updates_last_step(), kShapes.size());
  EXPECT_EQ(slots_of(*by_run).updates_last_step(), 1u);
  expect_same(fused, separate, *by_run, *by_parameter);
}

TEST_P(FusedUpdateTest, AGapSplitsTheRun) {
  std::vector<nn::Parameter> separate = make_parameters(false), split = make_parameters(true, 3);
  const std::unique_ptr<Optimizer> by_parameter = make(), by_run = make();
  steps(*by_parameter, separate, 1, 3);
  steps(*by_run, split, 1, 3);
  EXPECT_EQ(slots_of(*by_run).updates_last_step(), 2u);
  expect_same(split, separate, *by_run, *by_parameter);
}

// A resume: state saved by a run of separate tensors, loaded into contiguous parameters.
TEST_P(FusedUpdateTest, LoadedStateIsLaidOutAtTheNextStepAndContinuesExactly) {
  std::vector<nn::Parameter> original = make_parameters(false);
  const std::unique_ptr<Optimizer> before = make();
  steps(*before, original, 1, 3);
  std::vector<nn::Parameter> resumed = make_parameters(true);
  for (size_t i = 0; i < resumed.size(); ++i) resumed[i].value.copy_from(original[i].value);
  const std::unique_ptr<Optimizer> after = make();
  after->load_state(before->state(), pointers(resumed));
  steps(*before, original, 4, 6);
  steps(*after, resumed, 4, 6);
  EXPECT_EQ(slots_of(*after).updates_last_step(), 1u);
  expect_same(resumed, original, *after, *before);
}

INSTANTIATE_TEST_SUITE_P(
    EveryOptimizer, FusedUpdateTest,
    ::testing::Values(
        Case{"sgd", {{"lr", 0.1}}},
        Case{"sgd", {{"lr", 0.1}, {"momentum", 0.9}, {"nesterov", true}, {"weight_decay", 0.01}}},
        Case{"rmsprop", {{"lr", 0.01}, {"weight_decay", 0.01}}}, Case{"adam", {{"lr", 0.01}}},
        Case{"adamw", {{"lr", 0.01}}}));

}  // namespace
}  // namespace lockstep::optim
