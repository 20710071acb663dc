// Fusion buckets: parameters packed last-layer-first within the size limit, every grad a view
// into its bucket (so backward writes straight into the buffer the allreduce sends), buckets
// started as backward finishes them; and the reducers' sums over the passes of a step.
#include "parallel/gradient_buckets.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/comm/communicator.h"
#include "lockstep/nn/model.h"
#include "parallel/gradient_reducer.h"
#include "small_mlp.h"

namespace lockstep::parallel {
namespace {

// The small mlp (small_mlp.h).
std::unique_ptr<nn::Model> model() { return small_mlp(); }

TEST(GradientBucketsTest, PacksLastLayerFirstWithinTheLimit) {
  auto m = model();
  // 40 floats: {3.bias 4 + 3.weight 32 = 36}, {1.bias 8}, {1.weight 128, alone and larger}.
  GradientBuckets buckets(m->parameters(), 40 * sizeof(float), Device::cpu());
  EXPECT_EQ(buckets.bucket_elements(), (std::vector<int64_t>{36, 8, 128}));
  EXPECT_EQ(buckets.total_elements(), 172);
}

TEST(GradientBucketsTest, OneBucketWhenEverythingFits) {
  auto m = model();
  GradientBuckets buckets(m->parameters(), 25 << 20, Device::cpu());
  EXPECT_EQ(buckets.bucket_elements(), (std::vector<int64_t>{172}));
}

TEST(GradientBucketsTest, GradsAreViewsKeepingTheirShapes) {
  auto m = model();
  GradientBuckets buckets(m->parameters(), 40 * sizeof(float), Device::cpu());
  const std::vector<nn::Parameter*> params = m->parameters();
  // 3.weight and 3.bias share one bucket: 3.bias first (reverse order), then 3.weight.
  EXPECT_TRUE(params[2]->grad.shares_storage(params[3]->grad));
  EXPECT_FALSE(params[0]->grad.shares_storage(params[1]->grad));
  EXPECT_EQ(params[2]->grad.data(), params[3]->grad.data() + 4);
  for (nn::Parameter* p : params) EXPECT_EQ(p->grad.shape(), p->value.shape()) << p->name;
}

TEST(GradientBucketsTest, BackwardWritesIntoTheBuckets) {
  auto m = model();
  GradientBuckets buckets(m->parameters(), 1 << 20, Device::cpu());
  float* bucket_start = m->parameters()[3]->grad.data();  // the first slice of the one bucket
  const Tensor x = Tensor::full({2, 16}, 0.5f);
  m->forward(x, nn::ForwardContext{});
  m->backward(Tensor::full({2, 4}, 1.0f));
  EXPECT_EQ(bucket_start[0], 2.0f);  // d(sum)/d(3.bias) = number of rows
}

TEST(GradientBucketsTest, AllreduceSumsTheAccumulatedPasses) {
  // Two micro-batches of 2 and 3 rows: the step's gradient is the sum of both passes.
  auto m = model();
  GradientBuckets buckets(m->parameters(), 1 << 20, Device::cpu());
  nn::Parameter& last_bias = *m->parameters()[3];
  auto local = comm::make_local_communicator();  // a world of one: the sum is this rank's sum
  const std::unique_ptr<GradientReducer> exact = make_exact_reducer(buckets, *local, 3);
  exact->begin_step(5);
  m->forward_passes({Tensor::full({2, 16}, 0.5f), Tensor::full({3, 16}, 0.5f)},
                    nn::ForwardContext{});
  m->backward_passes({Tensor::full({2, 4}, 1.0f), Tensor::full({3, 4}, 1.0f)},
                     {.pass_grads_done = [&](size_t layer) {
                       exact->pass_grads_done(m->layer(layer).parameters());
                     }});
  exact->finish();
  EXPECT_EQ(last_bias.grad.to_vector(), std::vector<float>(4, 5.0f));
  exact->begin_step(0);  // cleared accumulators, reduced
  exact->finish();
  EXPECT_EQ(last_bias.grad.to_vector(), std::vector<float>(4, 0.0f));
  // The float path leaves one pass's grads as they are.
  const std::unique_ptr<GradientReducer> fast = make_fast_reducer(buckets, *local);
  fast->begin_step(3);
  m->forward(Tensor::full({3, 16}, 0.5f), nn::ForwardContext{});
  m->backward(Tensor::full({3, 4}, 1.0f));
  fast->finish();
  EXPECT_EQ(last_bias.grad.to_vector(), std::vector<float>(4, 3.0f));
}

TEST(GradientBucketsTest, RejectsNonPositiveBucketSize) {
  auto m = model();
  EXPECT_THROW(GradientBuckets(m->parameters(), 0, Device::cpu()), Error);
}

// A world of one that records when each non-blocking allreduce starts and finishes, and how
// many elements it covers.
class RecordingCommunicator final : public comm::Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "recording"; }
  void broadcast(void*, int64_t, int) override {}
  void allreduce_sum(float*, int64_t) override {}
  void allreduce_sum(double*, int64_t) override {}
  int64_t start_allreduce_sum(float*, int64_t count) override { return record("start", count); }
  int64_t start_allreduce_sum(double*, int64_t count) override { return record("start", count); }
  void finish(int64_t handle) override { events.push_back("finish " + std::to_string(handle)); }
  void scatterv(const float*, const std::vector<int64_t>&, const std::vector<int64_t>&, float*,
                int) override {}
  void gatherv(const float*, const std::vector<int64_t>&, const std::vector<int64_t>&, float*,
               int) override {}
  void allgather(const void*, int64_t, void*) override {}
  void barrier() override {}
  [[noreturn]] void abort(int) override { std::abort(); }

  std::vector<std::string> events;

 private:
  int64_t record(const char* what, int64_t count) {
    events.push_back(std::string(what) + " " + std::to_string(count));
    return next_sequence();
  }
};

// Starts a bucket as the fast reducer does: its float grads, in place.
GradientBuckets::StartBucket in_place(GradientBuckets& buckets) {
  return [&buckets](size_t index, comm::Communicator& communicator) {
    return communicator.start_allreduce_sum(buckets.grads(index).data(),
                                            buckets.grads(index).numel());
  };
}

TEST(GradientBucketsTest, ABucketStartsAsSoonAsBackwardFinishesItsParameters) {
  // Buckets {last Dense: 36}, {first bias: 8}, {first weight: 128}. The last Dense finishes
  // first, so its bucket must be under way while the layers below are still in backward.
  auto m = model();
  GradientBuckets buckets(m->parameters(), 40 * sizeof(float), Device::cpu());
  RecordingCommunicator recorder;
  std::vector<size_t> starts_after_layer;
  m->forward(Tensor::full({3, 16}, 0.5f), nn::ForwardContext{});
  buckets.begin_reduction(recorder, in_place(buckets));
  m->backward(Tensor::full({3, 4}, 1.0f), [&](size_t layer) {
    buckets.parameters_final(m->layer(layer).parameters());
    starts_after_layer.push_back(recorder.events.size());
  });
  buckets.finish_reduction();
  EXPECT_EQ(starts_after_layer, (std::vector<size_t>{1, 1, 3}));  // layers 2, 1, 0
  EXPECT_EQ(recorder.events, (std::vector<std::string>{"start 36", "start 8", "start 128",
                                                       "finish 0", "finish 1", "finish 2"}));
  EXPECT_EQ(buckets.started_early(), 3u);
}

TEST(GradientBucketsTest, OverlappedAccumulationEqualsAccumulatingFirst) {
  // Overlapped, a bucket's allreduce starts while backward still writes the buckets below:
  // the totals must be those of starting every allreduce after the whole of backward.
  auto run = [](bool overlapped) {
    auto m = model();
    GradientBuckets buckets(m->parameters(), 40 * sizeof(float), Device::cpu());
    auto local = comm::make_local_communicator();
    const std::unique_ptr<GradientReducer> exact = make_exact_reducer(buckets, *local, 3);
    exact->begin_step(5);
    m->forward_passes({Tensor::full({2, 16}, 0.5f), Tensor::full({3, 16}, 0.75f)},
                      nn::ForwardContext{});
    m->backward_passes(
        {Tensor::full({2, 4}, 1.0f), Tensor::full({3, 4}, 1.0f)},
        {.pass_grads_done =
             [&](size_t layer) { exact->pass_grads_done(m->layer(layer).parameters()); },
         .layer_done =
             [&](size_t layer) {
               if (overlapped) exact->parameters_final(m->layer(layer).parameters());
             }});
    exact->finish();
    EXPECT_EQ(buckets.started_early(), overlapped ? 3u : 0u);
    std::vector<float> grads;
    for (nn::Parameter* p : m->parameters()) {
      const std::vector<float> g = p->grad.to_vector();
      grads.insert(grads.end(), g.begin(), g.end());
    }
    return grads;
  };
  EXPECT_EQ(run(true), run(false));
}

TEST(GradientBucketsTest, AParameterReportedTwiceInOneStepIsAnError) {
  auto m = model();
  GradientBuckets buckets(m->parameters(), 40 * sizeof(float), Device::cpu());
  auto local = comm::make_local_communicator();
  buckets.begin_reduction(*local, in_place(buckets));
  buckets.parameters_final(m->layer(2).parameters());
  EXPECT_THROW(buckets.parameters_final(m->layer(2).parameters()), Error);
}

}  // namespace
}  // namespace lockstep::parallel
