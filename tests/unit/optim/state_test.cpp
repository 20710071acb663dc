// Optimizer state as named tensors: exact resume through state()/load_state() for every
// optimizer, the validation of loaded state, and the checks step() makes on its parameters.
#include <gtest/gtest.h>

#include <memory>

#include "lockstep/optim/adam.h"
#include "lockstep/optim/sgd.h"
#include "optim_test_helpers.h"

namespace lockstep::optim {
namespace {

using testing::bit_identical;
using testing::make_parameter;
using testing::run_steps;
using testing::throws_mentioning;

struct Case {
  std::string name;
  nlohmann::json hyperparameters;
};

// Failure messages show the case, not its bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name << " " << c.hyperparameters.dump(); }

class ResumeTest : public ::testing::TestWithParam<Case> {};

std::vector<nn::Parameter> model_parameters() {
  std::vector<nn::Parameter> parameters;
  parameters.push_back(make_parameter("0.weight", {3, 2}));
  parameters.push_back(make_parameter("0.bias", {3}));
  return parameters;
}

std::vector<nn::Parameter*> pointers(std::vector<nn::Parameter>& parameters) {
  std::vector<nn::Parameter*> out;
  for (nn::Parameter& p : parameters) out.push_back(&p);
  return out;
}

// Gives every parameter the gradient of step t and steps the optimizer.
void step_all(Optimizer& optimizer, std::vector<nn::Parameter>& parameters, int t) {
  for (nn::Parameter& p : parameters) {
    p.grad.copy_from(Tensor::from_vector(
        p.grad.shape(), testing::gradient_at(t, static_cast<int>(p.grad.numel()))));
  }
  optimizer.step(pointers(parameters), 0.5f);
}

std::vector<nn::Parameter> clone_values(const std::vector<nn::Parameter>& parameters) {
  std::vector<nn::Parameter> copy;
  for (const nn::Parameter& p : parameters) {
    copy.push_back({p.name, p.value.clone(), Tensor::zeros(p.grad.shape())});
  }
  return copy;
}

// Property: A takes 3 steps; its state loaded into a fresh B makes A and B take bit-identical
// steps 4..6. A fresh C without the state drifts from A, so the state is what carries over.
TEST_P(ResumeTest, ResumeIsBitExact) {
  std::unique_ptr<Optimizer> a = make_optimizer(GetParam().name, GetParam().hyperparameters);
  std::vector<nn::Parameter> pa = model_parameters();
  for (int t = 1; t <= 3; ++t) step_all(*a, pa, t);

  std::vector<nn::Parameter> pb = clone_values(pa), pc = clone_values(pa);
  std::unique_ptr<Optimizer> b = make_optimizer(a->name(), a->hyperparameters());
  std::unique_ptr<Optimizer> c = make_optimizer(a->name(), a->hyperparameters());
  b->load_state(a->state(), pointers(pb));
  for (int t = 4; t <= 6; ++t) {
    step_all(*a, pa, t);
    step_all(*b, pb, t);
    step_all(*c, pc, t);
  }
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(bit_identical(pa[i].value, pb[i].value)) << pa[i].name;
  }
  EXPECT_FALSE(bit_identical(pa[0].value, pc[0].value));
  const NamedTensors sa = a->state(), sb = b->state();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].name, sb[i].name);
    EXPECT_TRUE(bit_identical(sa[i].tensor, sb[i].tensor)) << sa[i].name;
  }
  EXPECT_EQ(sb.back().name, "step");
  EXPECT_EQ(sb.back().tensor.at({0}), 6.0f);
}

INSTANTIATE_TEST_SUITE_P(
    AllOptimizers, ResumeTest,
    ::testing::Values(Case{"sgd", {{"lr", 0.1}, {"momentum", 0.9}, {"nesterov", true}}},
                      Case{"rmsprop", {{"lr", 0.01}, {"weight_decay", 0.01}}},
                      Case{"adam", {{"lr", 0.01}, {"weight_decay", 0.1}}},
                      Case{"adamw", {{"lr", 0.01}, {"beta2", 0.99}}}),
    [](const ::testing::TestParamInfo<Case>& case_info) { return case_info.param.name; });

// Property: state() is a snapshot: steps taken after it do not change the returned tensors.
TEST(OptimizerStateTest, StateIsASnapshot) {
  nn::Parameter p = make_parameter("w", {4});
  Adam adam;
  run_steps(adam, p, 1, 2, 1.0f);
  const NamedTensors before = adam.state();
  const std::vector<float> exp_avg = before[0].tensor.to_vector();
  run_steps(adam, p, 3, 3, 1.0f);
  EXPECT_EQ(before[0].tensor.to_vector(), exp_avg);
  EXPECT_EQ(before[2].tensor.at({0}), 2.0f);
}

// Property: slots are created at the first step, as zeros with the parameter's shape, keyed by
// name: a parameter first seen later gets fresh slots without touching the others'.
TEST(OptimizerStateTest, SlotsAreCreatedLazilyPerName) {
  Sgd sgd({.lr = 0.1f, .momentum = 0.9f});
  EXPECT_EQ(sgd.state().size(), 1u);  // only "step"
  nn::Parameter w{"w", Tensor::zeros({2}), Tensor::full({2}, 1.0f)};
  nn::Parameter b{"b", Tensor::zeros({3}), Tensor::full({3}, 0.0f)};
  sgd.step({&w}, 1.0f);
  sgd.step({&b, &w}, 1.0f);
  const NamedTensors state = sgd.state();
  ASSERT_EQ(state.size(), 3u);
  EXPECT_EQ(state[0].name, "w.momentum");
  EXPECT_EQ(state[0].tensor.to_vector(), (std::vector<float>{1.9f, 1.9f}));
  EXPECT_EQ(state[1].name, "b.momentum");
  EXPECT_EQ(state[1].tensor.to_vector(), (std::vector<float>(3, 0.0f)));
  EXPECT_EQ(state[2].tensor.at({0}), 2.0f);
}

// Property: the state of an optimizer that never stepped (no slots, step 0) loads cleanly.
TEST(OptimizerStateTest, FreshStateLoads) {
  std::vector<nn::Parameter> parameters = model_parameters();
  Adam a, b;
  b.load_state(a.state(), pointers(parameters));
  EXPECT_EQ(b.steps_taken(), 0);
  step_all(b, parameters, 1);
  EXPECT_EQ(b.state().size(), 5u);
}

NamedTensors adam_state_after_one_step(std::vector<nn::Parameter>& parameters) {
  Adam adam;
  step_all(adam, parameters, 1);
  return adam.state();
}

NamedTensors without(NamedTensors state, const std::string& name) {
  std::erase_if(state, [&](const NamedTensor& item) { return item.name == name; });
  return state;
}

// Property: a state lacking a slot, holding an unknown name, or with a wrong shape is
// rejected with a message naming the tensor, and the optimizer keeps its own state.
TEST(OptimizerStateTest, BadStateThrowsNamingTheTensor) {
  std::vector<nn::Parameter> parameters = model_parameters();
  const NamedTensors good = adam_state_after_one_step(parameters);
  Adam target;
  step_all(target, parameters, 1);
  step_all(target, parameters, 2);
  const auto load = [&](const NamedTensors& state) {
    return [&target, &parameters, state] { target.load_state(state, pointers(parameters)); };
  };
  EXPECT_TRUE(throws_mentioning(load(without(good, "0.bias.exp_avg_sq")),
                                {"missing", "0.bias.exp_avg_sq"}));
  NamedTensors extra = good;
  extra.push_back({"1.weight.exp_avg", Tensor::zeros({2})});
  EXPECT_TRUE(throws_mentioning(load(extra), {"1.weight.exp_avg"}));
  NamedTensors misshapen = good;
  misshapen[0].tensor = Tensor::zeros({2, 3});
  EXPECT_TRUE(throws_mentioning(load(misshapen), {"0.weight.exp_avg", "[2, 3]", "[3, 2]"}));
  EXPECT_TRUE(throws_mentioning(load(without(good, "step")), {"step"}));
  NamedTensors duplicated = good;
  duplicated.push_back(good[0]);
  EXPECT_TRUE(throws_mentioning(load(duplicated), {"twice", "0.weight.exp_avg"}));
  EXPECT_EQ(target.steps_taken(), 2);
}

// Property: "step" must be a [1] tensor holding a whole number of steps >= 0.
TEST(OptimizerStateTest, BadStepCountThrows) {
  std::vector<nn::Parameter> parameters = model_parameters();
  NamedTensors state = adam_state_after_one_step(parameters);
  Adam adam;
  for (const float bad : {-1.0f, 2.5f, std::nanf("")}) {
    state.back().tensor = Tensor::full({1}, bad);
    EXPECT_TRUE(throws_mentioning([&] { adam.load_state(state, pointers(parameters)); },
                                  {"step", "whole number"}));
  }
  state.back().tensor = Tensor::full({2}, 1.0f);
  EXPECT_TRUE(
      throws_mentioning([&] { adam.load_state(state, pointers(parameters)); }, {"step", "[1]"}));
}

// Property: step() rejects a missing or misshapen gradient, duplicate names and a
// non-finite or non-positive grad_scale before touching anything.
TEST(OptimizerStateTest, StepValidatesParameters) {
  Sgd sgd({.lr = 0.1f, .momentum = 0.5f});
  nn::Parameter w{"w", Tensor::full({2}, 1.0f), Tensor::full({2}, 1.0f)};
  nn::Parameter no_grad{"g", Tensor::full({2}, 1.0f), Tensor()};
  nn::Parameter misshapen{"m", Tensor::full({2}, 1.0f), Tensor::full({3}, 1.0f)};
  nn::Parameter twin{"w", Tensor::full({2}, 1.0f), Tensor::full({2}, 1.0f)};
  EXPECT_TRUE(throws_mentioning([&] { sgd.step({&w, &no_grad}, 1.0f); }, {"\"g\"", "gradient"}));
  EXPECT_TRUE(throws_mentioning([&] { sgd.step({&misshapen}, 1.0f); }, {"\"m\"", "[3]"}));
  EXPECT_TRUE(throws_mentioning([&] { sgd.step({&w, &twin}, 1.0f); }, {"\"w\"", "twice"}));
  EXPECT_TRUE(throws_mentioning([&] { sgd.step({&w}, 0.0f); }, {"grad_scale"}));
  EXPECT_TRUE(throws_mentioning([&] { sgd.step({&w}, INFINITY); }, {"grad_scale"}));
  EXPECT_EQ(sgd.steps_taken(), 0);
  EXPECT_EQ(w.value.to_vector(), (std::vector<float>{1.0f, 1.0f}));
}

// Property: a parameter whose shape changed since its slots were made is rejected by name.
TEST(OptimizerStateTest, StepRejectsSlotShapeChange) {
  Adam adam;
  nn::Parameter w{"w", Tensor::full({2}, 1.0f), Tensor::full({2}, 1.0f)};
  adam.step({&w}, 1.0f);
  nn::Parameter bigger{"w", Tensor::full({4}, 1.0f), Tensor::full({4}, 1.0f)};
  EXPECT_TRUE(throws_mentioning([&] { adam.step({&bigger}, 1.0f); }, {"\"w\"", "exp_avg"}));
}

}  // namespace
}  // namespace lockstep::optim
