// Checkpoint integrity: the checksum makes every single flipped byte of a checkpoint an error
// (never a silent load of other weights or another step), files without a checksum still load,
// a failed write (file-size limit: EFBIG) leaves the previous file intact with no temporary, and
// the pre-rename hook runs when the temporary is complete and the target not yet replaced.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "io_test_util.h"
#include "lockstep/io/checkpoint.h"
#include "lockstep/io/safetensors.h"
#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"
#include "support/test_support.h"

namespace lockstep::io {
namespace {

using lockstep::testing::read_file;
using lockstep::testing::TempDir;
using lockstep::testing::write_file;
using testing::throws_error_containing;

nlohmann::json tiny_spec() {
  return {{"name", "tiny"},
          {"input_shape", {3}},
          {"layers", {{{"type", "Dense"}, {"units", 2}}, {{"type", "ReLU"}}}}};
}

class CheckpointIntegrity : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = nn::build_model(tiny_spec(), 3);
    optimizer_ = optim::make_optimizer("adam", nlohmann::json::object());
    state_.step = 12;
    state_.epoch = 1;
    state_.position_in_epoch = 40;
    state_.seed = 9;
    save_checkpoint(path_, *model_, *optimizer_, state_);
    bytes_ = read_file(path_);
  }

  std::vector<std::string> folder_names() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }

  TempDir dir_;
  std::filesystem::path path_ = dir_ / "ckpt-12.safetensors";
  std::unique_ptr<nn::Model> model_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  TrainerState state_;
  std::string bytes_;
};

TEST_F(CheckpointIntegrity, MetadataCarriesAChecksum) {
  const SafetensorsFile file = read_safetensors(path_);
  ASSERT_TRUE(file.metadata.count("checksum"));
  EXPECT_EQ(file.metadata.at("checksum").rfind("crc32:", 0), 0u) << file.metadata.at("checksum");
  EXPECT_EQ(file.metadata.at("checksum").size(), 6u + 8u);
  EXPECT_NO_THROW(read_checkpoint(path_));
}

// Header, metadata digits, tensor names and weights alike: no flipped bit goes unnoticed.
TEST_F(CheckpointIntegrity, EveryFlippedByteIsAnErrorNamingTheFile) {
  const auto damaged_path = dir_ / "damaged.safetensors";
  for (size_t i = 0; i < bytes_.size(); ++i) {
    for (const unsigned char mask : {0x01, 0x10, 0x80}) {
      std::string damaged = bytes_;
      damaged[i] = static_cast<char>(damaged[i] ^ mask);
      write_file(damaged_path, damaged);
      ASSERT_TRUE(
          throws_error_containing([&] { read_checkpoint(damaged_path); }, {damaged_path.string()}))
          << "byte " << i << " of " << bytes_.size() << " ^ " << int{mask};
    }
  }
}

TEST_F(CheckpointIntegrity, ChangedWeightIsReportedAsChecksumMismatch) {
  std::string damaged = bytes_;
  damaged[damaged.size() - 2] = static_cast<char>(damaged[damaged.size() - 2] ^ 0x01);
  write_file(path_, damaged);
  EXPECT_TRUE(throws_error_containing([&] { read_checkpoint(path_); },
                                      {path_.string(), "checksum", "the file is corrupt"}));
}

// Version 1 checkpoints, written before the checksum existed, carry none and still load; a
// version 2 file without one (its key damaged, say) is corrupt.
TEST_F(CheckpointIntegrity, ChecksumIsRequiredFromVersionTwo) {
  SafetensorsFile file = read_safetensors(path_);
  EXPECT_EQ(file.metadata.at("version"), "2");
  file.metadata.erase("checksum");
  write_safetensors(path_, file.tensors, file.metadata);
  EXPECT_TRUE(throws_error_containing([&] { read_checkpoint(path_); },
                                      {path_.string(), "'checksum' is missing"}));
  file.metadata["version"] = "1";
  write_safetensors(path_, file.tensors, file.metadata);
  EXPECT_EQ(read_checkpoint(path_).state.step, 12);
}

// Past RLIMIT_FSIZE a write fails with EFBIG, as it would with ENOSPC on a full disk (and
// unlike chmod, the limit holds for root). SIGXFSZ is ignored meanwhile, as train does.
TEST_F(CheckpointIntegrity, FailedWriteLeavesThePreviousFileIntactAndNoTemporary) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct sigaction ignore {
  }, previous{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGXFSZ, &ignore, &previous), 0);
  rlimit limited = saved;
  limited.rlim_cur = 64;  // bytes: less than the header
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  const auto bigger = nn::build_model(tiny_spec(), 4);
  const ::testing::AssertionResult failed =
      throws_error_containing([&] { save_checkpoint(path_, *bigger, *optimizer_, state_); },
                              {path_.string(), "File too large"});
  setrlimit(RLIMIT_FSIZE, &saved);
  sigaction(SIGXFSZ, &previous, nullptr);
  EXPECT_TRUE(failed);
  EXPECT_EQ(read_file(path_), bytes_);
  EXPECT_EQ(folder_names(), std::vector<std::string>({path_.filename().string()}));
}

// The hook sees the complete temporary beside the untouched target: a crash there keeps the
// previous checkpoint (LOCKSTEP_FAULT=kill_in_checkpoint ends the process at this point).
TEST_F(CheckpointIntegrity, HookRunsBeforeTheRenameWithTheTemporaryComplete) {
  state_.step = 13;
  bool ran = false;
  save_checkpoint(path_, *model_, *optimizer_, state_, [&] {
    ran = true;
    EXPECT_EQ(read_file(path_), bytes_);
    const std::vector<std::string> names = folder_names();
    ASSERT_EQ(names.size(), 2u);
    for (const std::string& name : names) {
      if (name == path_.filename().string()) continue;
      EXPECT_EQ(name.rfind(".ckpt-12.safetensors.tmp-", 0), 0u) << name;
      EXPECT_EQ(read_checkpoint(dir_ / name).state.step, 13);
    }
  });
  EXPECT_TRUE(ran);
  EXPECT_EQ(read_checkpoint(path_).state.step, 13);
}

// A hook that throws (a test aid gone wrong) leaves the previous file and no temporary.
TEST_F(CheckpointIntegrity, ThrowingHookLeavesThePreviousFile) {
  state_.step = 14;
  EXPECT_TRUE(throws_error_containing(
      [&] { save_checkpoint(path_, *model_, *optimizer_, state_, [] { LOCKSTEP_THROW("stop"); }); },
      {"stop"}));
  EXPECT_EQ(read_file(path_), bytes_);
  EXPECT_EQ(folder_names().size(), 1u);
}

}  // namespace
}  // namespace lockstep::io
