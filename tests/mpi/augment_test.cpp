// Augmentation on N ranks: each sample's shift and flip are keyed by (seed, epoch, sample id),
// never by the rank or the row's place in a batch, so N ranks train with --augment crop,flip to
// the very weights of one process: through DataParallel::fit (scatter and sharded input, a
// batch not divisible by N and one smaller than N) and through the Trainer (the train program's
// --augment), bit for bit.
#include "lockstep/data/augment.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lockstep/comm/communicator.h"
#include "lockstep/data/synthetic.h"
#include "lockstep/io/checkpoint.h"
#include "lockstep/io/checkpoint_dir.h"
#include "lockstep/nn/loss.h"
#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"
#include "lockstep/parallel/data_parallel.h"
#include "lockstep/train/trainer.h"
#include "mpi_test.h"
#include "support/model_values.h"
#include "support/test_support.h"

namespace lockstep {
namespace {

comm::Communicator& world() { return testing::mpi_world(); }

nlohmann::json image_spec() {
  return {{"name", "tiny_images"},
          {"input_shape", {2, 6, 5}},
          {"layers",
           {{{"type", "Conv2D"}, {"filters", 3}, {"kernel_size", 3}, {"padding", "same"}},
            {{"type", "ReLU"}},
            {{"type", "Flatten"}},
            {{"type", "Dense"}, {"units", 4}}}}};
}

struct Replica {
  std::unique_ptr<nn::Model> model;
  std::unique_ptr<parallel::DataParallel> engine;

  Replica(comm::Communicator& communicator, parallel::DataParallelOptions options) {
    model = nn::build_model(image_spec(), 42);
    engine = std::make_unique<parallel::DataParallel>(*model, communicator, Device::cpu(), options);
    engine->compile(std::make_unique<nn::CrossEntropyLoss>(),
                    optim::make_optimizer("sgd", {{"lr", 0.1}, {"momentum", 0.9}}));
  }

  std::vector<float> weights() { return testing::parameter_values(*model); }
};

parallel::FitOptions three_epochs(int64_t batch, data::Augmentation augmentation) {
  parallel::FitOptions options;
  options.epochs = 3;
  options.batch_size = batch;
  options.seed = 17;
  options.augmentation = augmentation;
  return options;
}

// Property: for each input mode and batch size, N ranks reach the one-process weights bit for
// bit with crop,flip, and these differ from the weights without augmentation.
TEST(AugmentTest, NRanksTrainToTheOneProcessWeightsWithCropAndFlip) {
  const data::Augmentation crop_flip = data::parse_augmentation("crop,flip");
  for (const int64_t batch : {int64_t{30}, int64_t{2}}) {
    const data::Dataset data = data::make_synthetic(10 * batch - 1, {2, 6, 5}, 4, 9);
    parallel::DataParallelOptions options;
    options.micro_batch = 4;
    options.bucket_bytes = 512;
    auto local = comm::make_local_communicator();
    Replica reference(*local, options);
    reference.engine->fit(data, three_epochs(batch, crop_flip));
    Replica plain(*local, options);
    plain.engine->fit(data, three_epochs(batch, {}));
    EXPECT_NE(reference.weights(), plain.weights()) << "batch " << batch;

    for (const parallel::InputMode mode :
         {parallel::InputMode::kScatter, parallel::InputMode::kSharded}) {
      options.input = mode;
      Replica distributed(world(), options);
      const bool holds_data = mode == parallel::InputMode::kSharded || world().rank() == 0;
      distributed.engine->fit(holds_data ? data : data::Dataset(), three_epochs(batch, crop_flip));
      EXPECT_EQ(distributed.weights(), reference.weights())
          << "batch " << batch << ", " << world().size() << " ranks, input "
          << parallel::input_mode_name(mode);
    }
  }
}

// A folder every rank sees: rank 0 makes it and tells the others its path.
class SharedFolder {
 public:
  explicit SharedFolder(comm::Communicator& communicator) : communicator_(communicator) {
    std::string text;
    if (communicator.rank() == 0) {
      folder_ = std::make_unique<testing::TempDir>();
      text = folder_->path().string();
    }
    int64_t length = static_cast<int64_t>(text.size());
    communicator.broadcast(&length, sizeof length, 0);
    text.resize(static_cast<size_t>(length));
    communicator.broadcast(text.data(), length, 0);
    path_ = text;
  }
  ~SharedFolder() { communicator_.barrier(); }  // every rank is done before rank 0 removes it
  SharedFolder(const SharedFolder&) = delete;
  SharedFolder& operator=(const SharedFolder&) = delete;

  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  comm::Communicator& communicator_;
  std::unique_ptr<testing::TempDir> folder_;
  std::filesystem::path path_;
};

train::TrainerOptions augmented_run(const std::filesystem::path& folder, const std::string& input) {
  train::TrainerOptions o;
  o.model = "mlp";
  o.data = "synthetic:120";  // 100 to train on: 10 batches of 10
  o.epochs = 2;
  o.batch_size = 10;
  o.micro_batch = 2;  // five micro-batches a batch, spread over the ranks
  o.seed = 3;
  o.input = input;
  o.augment = "crop,flip";
  o.progress = "lines";
  o.log_every = 1000;
  o.device.device = "cpu";
  o.checkpoint_dir = folder.string();
  return o;
}

// Property: the Trainer with --augment crop,flip on N ranks (scatter and sharded input) writes a
// final checkpoint with the weights and optimizer state of the same run in one process.
TEST(AugmentTest, TheTrainerWithAugmentReachesTheOneProcessCheckpoint) {
  const SharedFolder folder(world());
  const int64_t last = 2 * 10;
  for (const std::string input : {"scatter", "sharded"}) {
    SCOPED_TRACE(input);
    train::Trainer distributed(world(), runtime::ProcessInfo{},
                               augmented_run(folder / ("ranks-" + input), input));
    ASSERT_EQ(distributed.run(), kExitOk);
    if (world().rank() != 0) continue;
    auto local = comm::make_local_communicator();
    train::Trainer alone(*local, runtime::ProcessInfo{},
                         augmented_run(folder / ("alone-" + input), input));
    ASSERT_EQ(alone.run(), kExitOk);
    const io::Checkpoint a =
        io::read_checkpoint(io::checkpoint_path(folder / ("ranks-" + input), last));
    const io::Checkpoint b =
        io::read_checkpoint(io::checkpoint_path(folder / ("alone-" + input), last));
    EXPECT_EQ(a.state.step, last);
    EXPECT_EQ(a.state.world_size, world().size());
    EXPECT_EQ(a.state.extra["augment"], "crop,flip");
    ASSERT_EQ(a.parameters.size(), b.parameters.size());
    for (size_t i = 0; i < a.parameters.size(); ++i) {
      EXPECT_EQ(a.parameters[i].tensor.to_vector(), b.parameters[i].tensor.to_vector())
          << a.parameters[i].name << " on " << world().size() << " ranks";
    }
    ASSERT_EQ(a.optimizer_state.size(), b.optimizer_state.size());
    for (size_t i = 0; i < a.optimizer_state.size(); ++i) {
      EXPECT_EQ(a.optimizer_state[i].tensor.to_vector(), b.optimizer_state[i].tensor.to_vector())
          << a.optimizer_state[i].name;
    }
  }
}

}  // namespace
}  // namespace lockstep
