// The gradient reducers: exact totals whatever the passes and ranks, fast float sums in place,
// zeros from a rank with no rows, and bucket allreduces started while backward runs.
#include "parallel/gradient_reducer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/comm/communicator.h"
#include "lockstep/nn/model.h"
#include "parallel/gradient_buckets.h"
#include "small_mlp.h"

namespace lockstep::parallel {
namespace {

// The small mlp (small_mlp.h). With buckets of 40 floats: {3.bias + 3.weight: 36},
// {1.bias: 8}, {1.weight: 128}.
std::unique_ptr<nn::Model> model() { return small_mlp(); }
constexpr int64_t kBucketBytes = 40 * sizeof(float);
const std::vector<int64_t> kBucketSizes = {36, 8, 128};

// A world of one standing in for a peer: each allreduce records what this rank contributes
// (the buffer, float or double, and its values), then adds `peer` to every element, as if
// one other rank had contributed it.
class PeerCommunicator final : public comm::Communicator {
 public:
  struct Start {
    std::string type;  // "float" or "double"
    const void* data;
    std::vector<double> values;
  };

  explicit PeerCommunicator(double peer = 0.0) : peer_(peer) {}

  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "peer"; }
  void broadcast(void*, int64_t, int) override {}
  void allreduce_sum(float* data, int64_t count) override {
    finish(start_allreduce_sum(data, count));
  }
  void allreduce_sum(double* data, int64_t count) override {
    finish(start_allreduce_sum(data, count));
  }
  int64_t start_allreduce_sum(float* data, int64_t count) override {
    return start("float", data, count);
  }
  int64_t start_allreduce_sum(double* data, int64_t count) override {
    return start("double", data, count);
  }
  void finish(int64_t handle) override { finished.push_back(handle); }
  void scatterv(const float*, const std::vector<int64_t>&, const std::vector<int64_t>&, float*,
                int) override {}
  void gatherv(const float*, const std::vector<int64_t>&, const std::vector<int64_t>&, float*,
               int) override {}
  void allgather(const void*, int64_t, void*) override {}
  void barrier() override {}
  [[noreturn]] void abort(int) override { std::abort(); }

  std::vector<Start> starts;
  std::vector<int64_t> finished;

 private:
  template <typename T>
  int64_t start(const char* type, T* data, int64_t count) {
    starts.push_back({type, data, std::vector<double>(data, data + count)});
    for (int64_t i = 0; i < count; ++i) data[i] = static_cast<T>(data[i] + static_cast<T>(peer_));
    return next_sequence();
  }

  double peer_;
};

// Every grad of every bucket set to `value`, as a backward pass would write them.
void write_grads(GradientBuckets& buckets, float value) {
  for (size_t i = 0; i < buckets.size(); ++i) buckets.grads(i).fill(value);
}

// Every element of every bucket's grads, in bucket order.
std::vector<float> all_grads(GradientBuckets& buckets) {
  std::vector<float> values;
  for (size_t i = 0; i < buckets.size(); ++i) {
    const std::vector<float> g = buckets.grads(i).to_vector();
    values.insert(values.end(), g.begin(), g.end());
  }
  return values;
}

// Passes whose sum rounds differently in float depending on its order (the float spacing at
// 1e8 is 8), while in double it is exact: 2.
const std::vector<float> kPasses = {1e8f, 1.0f, -1e8f, 1.0f};

struct RankOutcome {
  std::vector<float> grads;   // after finish
  double contribution = 0.0;  // what this rank sent, in every element
};

// One rank of a step whose passes write `passes` into every grad, with a peer whose
// contribution is `peer`, through the exact reducer.
RankOutcome exact_rank(const std::vector<float>& passes, double peer) {
  auto m = model();
  GradientBuckets buckets(m->parameters(), kBucketBytes, Device::cpu());
  PeerCommunicator communicator(peer);
  const std::unique_ptr<GradientReducer> exact = make_exact_reducer(buckets, communicator, 4);
  exact->begin_step(4 * static_cast<int64_t>(passes.size()));
  for (float pass : passes) {
    write_grads(buckets, pass);
    exact->pass_grads_done(m->parameters());
  }
  exact->finish();
  EXPECT_EQ(communicator.starts.size(), buckets.size());
  RankOutcome outcome{all_grads(buckets), communicator.starts.at(0).values.at(0)};
  for (const PeerCommunicator::Start& s : communicator.starts) {
    EXPECT_EQ(s.type, "double");
    for (double v : s.values) EXPECT_EQ(v, outcome.contribution);
  }
  return outcome;
}

TEST(ExactReducerTest, TotalsAreEqualWhateverThePassSplitAndOrder) {
  float in_float = 0.0f;
  for (float v : kPasses) in_float += v;
  ASSERT_NE(in_float, 2.0f) << "the passes must be able to tell a float sum from an exact one";
  const std::vector<float> two(172, 2.0f);
  // One process, the passes in two orders.
  EXPECT_EQ(exact_rank(kPasses, 0.0).grads, two);
  EXPECT_EQ(exact_rank({1.0f, -1e8f, 1.0f, 1e8f}, 0.0).grads, two);
  // Two ranks, two passes each: each sends its exact partial sum, and both reach the same total.
  const RankOutcome second_alone = exact_rank({-1e8f, 1.0f}, 0.0);
  const RankOutcome first_alone = exact_rank({1e8f, 1.0f}, 0.0);
  EXPECT_EQ(first_alone.contribution, 100000001.0);
  EXPECT_EQ(second_alone.contribution, -99999999.0);
  EXPECT_EQ(exact_rank({1e8f, 1.0f}, second_alone.contribution).grads, two);
  EXPECT_EQ(exact_rank({-1e8f, 1.0f}, first_alone.contribution).grads, two);
  // Four ranks of one pass each: rank 0's view.
  EXPECT_EQ(exact_rank({1e8f}, 1.0 - 1e8 + 1.0).grads, two);
}

TEST(ExactReducerTest, PassesAreMicroBatchesWhateverTheRows) {
  auto m = model();
  GradientBuckets buckets(m->parameters(), kBucketBytes, Device::cpu());
  PeerCommunicator communicator;
  const std::unique_ptr<GradientReducer> exact = make_exact_reducer(buckets, communicator, 16);
  EXPECT_EQ(exact->pass_rows(5), 16);
  EXPECT_EQ(exact->pass_rows(100), 16);
  EXPECT_EQ(make_gradient_reducer(buckets, communicator, 3)->pass_rows(100), 3);
  EXPECT_THROW(make_exact_reducer(buckets, communicator, 0), Error);
}

TEST(FastReducerTest, SumsTheFloatGradsInPlace) {
  auto m = model();
  GradientBuckets buckets(m->parameters(), kBucketBytes, Device::cpu());
  PeerCommunicator communicator(1.0);
  const std::unique_ptr<GradientReducer> fast = make_fast_reducer(buckets, communicator);
  EXPECT_EQ(fast->pass_rows(100), 100);
  EXPECT_EQ(make_gradient_reducer(buckets, communicator, 0)->pass_rows(100), 100);
  fast->begin_step(100);
  write_grads(buckets, 1e8f);
  fast->pass_grads_done(m->parameters());
  fast->finish();
  ASSERT_EQ(communicator.starts.size(), buckets.size());
  for (size_t i = 0; i < buckets.size(); ++i) {
    EXPECT_EQ(communicator.starts[i].type, "float");
    EXPECT_EQ(communicator.starts[i].data, buckets.grads(i).data()) << "not in place";
    EXPECT_EQ(communicator.starts[i].values, std::vector<double>(kBucketSizes[i], 1e8));
  }
  // 1e8 + 1 in float is 1e8: the sum was taken in float.
  EXPECT_EQ(all_grads(buckets), std::vector<float>(172, 1e8f));
  EXPECT_EQ(communicator.finished, (std::vector<int64_t>{0, 1, 2}));
}

// Both reducers, by name.
std::unique_ptr<GradientReducer> make(const std::string& kind, GradientBuckets& buckets,
                                      comm::Communicator& communicator) {
  return kind == "exact" ? make_exact_reducer(buckets, communicator, 2)
                         : make_fast_reducer(buckets, communicator);
}

class ReducerTest : public testing::TestWithParam<std::string> {};

// A rank without rows runs no backward pass, so its grads (and the exact reducer's
// accumulators) still hold the last step's; it must contribute zeros, through the same
// allreduces as its peers (here finish starts them, as no layer was reported final).
TEST_P(ReducerTest, ARankWithNoRowsContributesZeros) {
  auto m = model();
  GradientBuckets buckets(m->parameters(), kBucketBytes, Device::cpu());
  PeerCommunicator communicator(0.5);
  const std::unique_ptr<GradientReducer> reducer = make(GetParam(), buckets, communicator);
  reducer->begin_step(3);  // a step with rows leaves grads and sums non-zero
  write_grads(buckets, 3.0f);
  reducer->pass_grads_done(m->parameters());
  reducer->finish();
  communicator.starts.clear();
  reducer->begin_step(0);
  reducer->finish();
  ASSERT_EQ(communicator.starts.size(), buckets.size());
  const std::string type = GetParam() == "exact" ? "double" : "float";
  for (size_t i = 0; i < buckets.size(); ++i) {
    EXPECT_EQ(communicator.starts[i].type, type);
    EXPECT_EQ(communicator.starts[i].values, std::vector<double>(kBucketSizes[i], 0.0));
  }
  EXPECT_EQ(all_grads(buckets), std::vector<float>(172, 0.5f)) << "the peer's share alone";
}

// Each bucket's allreduce starts as soon as backward has finished its parameters: the last
// Dense's bucket while the layers below are still in backward.
TEST_P(ReducerTest, BucketsStartWhileBackwardRuns) {
  auto m = model();
  GradientBuckets buckets(m->parameters(), kBucketBytes, Device::cpu());
  PeerCommunicator communicator;
  const std::unique_ptr<GradientReducer> reducer = make(GetParam(), buckets, communicator);
  reducer->begin_step(2);
  m->forward(Tensor::full({2, 16}, 0.5f), nn::ForwardContext{});
  std::vector<size_t> starts_after_layer;
  m->backward_passes(
      {Tensor::full({2, 4}, 1.0f)},
      {.pass_grads_done =
           [&](size_t layer) { reducer->pass_grads_done(m->layer(layer).parameters()); },
       .layer_done =
           [&](size_t layer) {
             reducer->parameters_final(m->layer(layer).parameters());
             starts_after_layer.push_back(communicator.starts.size());
           }});
  EXPECT_EQ(starts_after_layer, (std::vector<size_t>{1, 1, 3}));  // layers 2, 1, 0
  EXPECT_EQ(buckets.started_early(), 3u);
  EXPECT_TRUE(communicator.finished.empty()) << "waited before finish";
  // What each bucket sent is its final grads (the exact reducer: added to cleared sums).
  const std::vector<float> expected = all_grads(buckets);
  reducer->finish();
  EXPECT_EQ(communicator.finished, (std::vector<int64_t>{0, 1, 2}));
  std::vector<float> sent;
  for (const PeerCommunicator::Start& s : communicator.starts) {
    for (double v : s.values) sent.push_back(static_cast<float>(v));
  }
  EXPECT_EQ(sent, expected);
  EXPECT_EQ(all_grads(buckets), expected);  // a peer adding zeros
  EXPECT_EQ(m->parameters()[3]->grad.to_vector(), std::vector<float>(4, 2.0f));
}

INSTANTIATE_TEST_SUITE_P(BothReducers, ReducerTest, testing::Values("exact", "fast"),
                         [](const testing::TestParamInfo<std::string>& param_info) {
                           return param_info.param;
                         });

}  // namespace
}  // namespace lockstep::parallel
