// What the Trainer tests share: a small model on synthetic data in one process (100 training
// samples, batches of 10: 10 steps an epoch), runs in temporary folders, and the checkpoints
// a run leaves, read back for exact comparison.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/comm/communicator.h"
#include "lockstep/io/checkpoint.h"
#include "lockstep/io/checkpoint_dir.h"
#include "lockstep/train/trainer.h"
#include "support/test_support.h"

namespace lockstep::train::testing {

inline constexpr int64_t kStepsPerEpoch = 10;

class TrainerTest : public ::testing::Test {
 protected:
  // Two epochs of a two-layer model on synthetic:120, checkpoints in `folder` (if any); the
  // settings a resume could adopt are marked given, as the train program marks flags.
  TrainerOptions options(const std::filesystem::path& folder = {}) const {
    TrainerOptions o;
    o.model = spec_path_.string();
    o.data = "synthetic:120";  // 100 to train on, 20 to test
    o.epochs = 2;
    o.batch_size = 10;
    o.seed = 5;
    o.progress = "lines";
    o.log_every = 1000;
    o.device.device = "cpu";
    o.checkpoint_dir = folder.string();
    o.given = {true, true, true, true, true, true, true, true};
    return o;
  }

  // Runs a Trainer with `o` and returns what it says.
  RunSummary run(const TrainerOptions& o, const Trainer::StepObserver& observer = {}) {
    Trainer trainer(*world_, runtime::ProcessInfo{}, o);
    trainer.set_step_observer(observer);
    const int code = trainer.run();
    EXPECT_EQ(code, trainer.summary().exit_code);
    return trainer.summary();
  }

  // The steps of the checkpoints in `folder`, ascending.
  static std::vector<int64_t> steps_in(const std::filesystem::path& folder) {
    std::vector<int64_t> steps;
    for (const io::CheckpointFile& file : io::list_checkpoints(folder)) steps.push_back(file.step);
    return {steps.rbegin(), steps.rend()};
  }

  // Passes when both checkpoints stand at the same step with the same weights and optimizer
  // state, bit for bit.
  static ::testing::AssertionResult same_run_state(const std::filesystem::path& a,
                                                   const std::filesystem::path& b) {
    const io::Checkpoint x = io::read_checkpoint(a), y = io::read_checkpoint(b);
    if (x.state.step != y.state.step || x.state.epoch != y.state.epoch) {
      return ::testing::AssertionFailure()
             << a << " is at step " << x.state.step << ", " << b << " at step " << y.state.step;
    }
    ::testing::AssertionResult same = same_tensors(x.parameters, y.parameters);
    return same ? same_tensors(x.optimizer_state, y.optimizer_state) : same;
  }

  // Each case spoils the default options; the Trainer must refuse them with a message
  // containing the case's text.
  using SpoiledOptions = std::vector<std::pair<std::function<void(TrainerOptions&)>, std::string>>;
  void expect_each_refused(const SpoiledOptions& cases) {
    for (const auto& [spoil, message] : cases) {
      SCOPED_TRACE(message);
      TrainerOptions o = options(dir_ / "run");
      spoil(o);
      try {
        Trainer trainer(*world_, runtime::ProcessInfo{}, o);
        ADD_FAILURE() << "no error";
      } catch (const Error& e) {
        EXPECT_NE(e.message().find(message), std::string::npos) << e.message();
      }
    }
  }

  lockstep::testing::TempDir dir_;
  std::unique_ptr<comm::Communicator> world_ = comm::make_local_communicator();

 private:
  static ::testing::AssertionResult same_tensors(const NamedTensors& a, const NamedTensors& b) {
    if (a.size() != b.size()) {
      return ::testing::AssertionFailure() << a.size() << " tensors against " << b.size();
    }
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i].name != b[i].name || a[i].tensor.to_vector() != b[i].tensor.to_vector()) {
        return ::testing::AssertionFailure() << "'" << a[i].name << "' differs";
      }
    }
    return ::testing::AssertionSuccess();
  }

  std::filesystem::path write_spec() const {
    const std::filesystem::path path = dir_ / "model.json";
    lockstep::testing::write_file(
        path, R"({"name": "small", "input_shape": [1, 28, 28], "layers": [{"type": "Flatten"},
                  {"type": "Dense", "units": 8}, {"type": "ReLU"},
                  {"type": "Dense", "units": 10}]})");
    return path;
  }

  std::filesystem::path spec_path_ = write_spec();
};

}  // namespace lockstep::train::testing
