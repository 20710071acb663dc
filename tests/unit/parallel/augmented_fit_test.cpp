// fit with augmentation, in one process: a sample is transformed by the draw of its id in the
// data set, whatever batch or row it lands in (an epoch on data augmented beforehand reaches the
// very same weights), each epoch draws anew, the data set itself is left alone, scatter and
// sharded input agree, and data that is not images [C, H, W] is refused before any step.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/comm/communicator.h"
#include "lockstep/data/augment.h"
#include "lockstep/data/synthetic.h"
#include "lockstep/nn/loss.h"
#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"
#include "lockstep/parallel/data_parallel.h"
#include "support/model_values.h"
#include "support/test_support.h"

namespace lockstep::parallel {
namespace {

const data::Augmentation kCropFlip{true, true};

nlohmann::json image_spec(const Shape& input_shape) {
  return {{"name", "small"},
          {"input_shape", input_shape},
          {"layers",
           {{{"type", "Flatten"}},
            {{"type", "Dense"}, {"units", 12}},
            {{"type", "ReLU"}},
            {{"type", "Dense"}, {"units", 3}}}}};
}

struct AugmentedRun {
  std::unique_ptr<comm::Communicator> local = comm::make_local_communicator();
  std::unique_ptr<nn::Model> model;
  std::unique_ptr<DataParallel> engine;

  explicit AugmentedRun(DataParallelOptions options = {}, const Shape& input_shape = {2, 5, 6}) {
    model = nn::build_model(image_spec(input_shape), 4);
    engine = std::make_unique<DataParallel>(*model, *local, Device::cpu(), options);
    engine->compile(std::make_unique<nn::CrossEntropyLoss>(),
                    optim::make_optimizer("sgd", {{"lr", 0.1}, {"momentum", 0.9}}));
  }

  std::vector<float> weights() { return testing::parameter_values(*model); }
};

data::Dataset images() { return data::make_synthetic(70, {2, 5, 6}, 3, 11); }

FitOptions augmented(int64_t epochs) {
  FitOptions o;
  o.epochs = epochs;
  o.batch_size = 16;  // a short last batch
  o.seed = 21;
  o.augmentation = kCropFlip;
  return o;
}

// Property: one augmented epoch equals one plain epoch on the data set augmented beforehand
// with the draws of (seed, epoch 0, sample id): the shuffled order and the rows' places in
// their batches do not enter the draw.
TEST(AugmentedFitTest, AnEpochEqualsAPlainEpochOnDataAugmentedBySampleId) {
  const data::Dataset data = images();
  AugmentedRun with;
  with.engine->fit(data, augmented(1));

  Tensor inputs = data.inputs().clone();
  std::vector<int64_t> ids(static_cast<size_t>(data.size()));
  std::iota(ids.begin(), ids.end(), int64_t{0});
  data::augment_rows(kCropFlip, inputs, ids, 21, 0);
  AugmentedRun before;
  FitOptions plain = augmented(1);
  plain.augmentation = {};
  before.engine->fit(data::Dataset(inputs, data.labels().clone()), plain);
  EXPECT_EQ(with.weights(), before.weights());

  AugmentedRun without;
  without.engine->fit(data, plain);
  EXPECT_NE(with.weights(), without.weights());  // the augmentation did change the rows
}

// Property: the second epoch draws anew (its rows are not the first epoch's again), and the
// same run twice gives the same bits.
TEST(AugmentedFitTest, EachEpochDrawsAnewAndRunsRepeat) {
  const data::Dataset data = images();
  AugmentedRun twice, again;
  twice.engine->fit(data, augmented(2));
  again.engine->fit(data, augmented(2));
  EXPECT_EQ(twice.weights(), again.weights());

  // Two epochs on data augmented once with epoch 0's draws differ from the augmented run.
  Tensor inputs = data.inputs().clone();
  std::vector<int64_t> ids(static_cast<size_t>(data.size()));
  std::iota(ids.begin(), ids.end(), int64_t{0});
  data::augment_rows(kCropFlip, inputs, ids, 21, 0);
  AugmentedRun frozen;
  FitOptions plain = augmented(2);
  plain.augmentation = {};
  frozen.engine->fit(data::Dataset(inputs, data.labels().clone()), plain);
  EXPECT_NE(twice.weights(), frozen.weights());
}

// Property: fit transforms copies of the rows: the data set is left as it was, in scatter and
// in sharded mode.
TEST(AugmentedFitTest, TheDataSetIsLeftAsItWas) {
  const data::Dataset data = images();
  const std::vector<float> original = data.inputs().to_vector();
  for (const InputMode mode : {InputMode::kScatter, InputMode::kSharded}) {
    DataParallelOptions options;
    options.input = mode;
    AugmentedRun run(options);
    run.engine->fit(data, augmented(1));
    EXPECT_EQ(data.inputs().to_vector(), original) << input_mode_name(mode);
  }
}

// Property: scatter and sharded input give the same augmented training, bit for bit.
TEST(AugmentedFitTest, ScatterAndShardedAgree) {
  const data::Dataset data = images();
  DataParallelOptions sharded_options;
  sharded_options.input = InputMode::kSharded;
  AugmentedRun scattered, sharded(sharded_options);
  scattered.engine->fit(data, augmented(2));
  sharded.engine->fit(data, augmented(2));
  EXPECT_EQ(scattered.weights(), sharded.weights());
}

// Property: an augmentation of samples that are not images [C, H, W] is refused before any
// step, naming the shape found.
TEST(AugmentedFitTest, RefusesSamplesThatAreNotImages) {
  const data::Dataset flat = data::make_synthetic(20, {30}, 3, 11);
  AugmentedRun run({}, {30});
  try {
    run.engine->fit(flat, augmented(1));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("augmentation crop,flip: expected images [C, H, W], found "
                               "samples of shape [30]"),
              std::string::npos)
        << e.message();
  }
  EXPECT_EQ(run.engine->step(), 0);
}

}  // namespace
}  // namespace lockstep::parallel
