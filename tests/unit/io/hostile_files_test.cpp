// The safetensors reader and checkpoint loading against the hostile corpus (tests/corpus,
// listed in manifest.tsv) and against every truncation and single flipped byte of a real
// checkpoint: a lockstep::Error naming the file and field, never a crash or a large allocation.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "corpus/corpus.h"
#include "lockstep/io/checkpoint.h"
#include "lockstep/io/safetensors.h"
#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"
#include "support/test_support.h"

namespace lockstep::io {
namespace {

namespace corpus = lockstep::testing::corpus;
using lockstep::testing::read_file;
using lockstep::testing::TempDir;
using lockstep::testing::write_file;

// Reads the checkpoint and restores it into a fresh built-in mlp with Adam.
void restore_into_mlp(const std::filesystem::path& path) {
  const Checkpoint checkpoint = read_checkpoint(path);
  const auto model = nn::build_model(nn::builtin_spec("mlp"), 1);
  const auto optimizer = optim::make_optimizer("adam", nlohmann::json::object());
  restore_checkpoint(checkpoint, *model, *optimizer);
}

// The call the manifest's reader name stands for, or nothing for readers of other parts.
std::function<void()> reader_for(const corpus::Case& c) {
  if (c.reader == "read_safetensors") return [&c] { read_safetensors(c.path()); };
  if (c.reader == "read_checkpoint") return [&c] { read_checkpoint(c.path()); };
  if (c.reader == "restore_checkpoint_mlp") return [&c] { restore_into_mlp(c.path()); };
  return nullptr;
}

std::vector<corpus::Case> io_cases() {
  std::vector<corpus::Case> cases;
  for (const corpus::Case& c : corpus::read_manifest()) {
    if (reader_for(c)) cases.push_back(c);
  }
  return cases;
}

// Each file: the right error, naming the file and field, with the peak memory barely moving
// (a header length of 2^64-1 or offsets near 2^64 would show as gigabytes if believed).
TEST(HostileIoFiles, EveryCorpusFileIsRejectedNamingFileAndField) {
  const std::vector<corpus::Case> cases = io_cases();
  ASSERT_GE(cases.size(), 20u) << "corpus manifest " << corpus::kDir / "manifest.tsv";
  for (const corpus::Case& c : cases) {
    SCOPED_TRACE(c.reader + " " + c.file);
    corpus::PeakMemory peak;
    EXPECT_TRUE(corpus::rejects(reader_for(c), c.path().string(), c.fragment));
    EXPECT_LT(peak.growth_bytes(), corpus::kMaxPeakGrowthBytes);
  }
}

// A file dropped into corpus/safetensors without a manifest line would test nothing.
TEST(HostileIoFiles, EveryCorpusFileHasAnExpectedError) {
  std::set<std::string> listed;
  for (const corpus::Case& c : io_cases()) listed.insert(c.file);
  for (const std::string& file : corpus::files_under("safetensors")) {
    EXPECT_TRUE(listed.count(file)) << file << " has no line in manifest.tsv";
  }
}

// The well-formed neighbours load, so each rejection above comes from its file's flaw.
TEST(HostileIoFiles, ValidCorpusFilesLoad) {
  const SafetensorsFile two =
      read_safetensors(corpus::kDir / "valid/safetensors/two_tensors.safetensors");
  ASSERT_EQ(two.tensors.size(), 2u);
  EXPECT_EQ(two.tensors[1].name, "b");
  EXPECT_EQ(two.tensors[1].tensor.to_vector(), std::vector<float>({3, 4}));
  EXPECT_EQ(two.metadata.at("k"), "v");
  EXPECT_TRUE(
      read_safetensors(corpus::kDir / "valid/safetensors/empty.safetensors").tensors.empty());
}

// A small checkpoint written by save_checkpoint, and a reader that must either load a variant
// of it or throw lockstep::Error naming it.
class DamagedCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    const nlohmann::json spec = {
        {"name", "tiny"},
        {"input_shape", {3}},
        {"layers", {{{"type", "Dense"}, {"units", 2}}, {{"type", "ReLU"}}}}};
    auto model = nn::build_model(spec, 3);
    auto optimizer = optim::make_optimizer("adam", nlohmann::json::object());
    TrainerState state;
    state.step = 5;
    save_checkpoint(dir_ / "good.ckpt", *model, *optimizer, state);
    bytes_ = read_file(dir_ / "good.ckpt");
  }

  ::testing::AssertionResult loads_or_names_file(const std::string& bytes) {
    const auto path = dir_ / "damaged.ckpt";
    write_file(path, bytes);
    try {
      load_run(path);
    } catch (const Error& error) {
      if (error.message().find(path.string()) == std::string::npos) {
        return ::testing::AssertionFailure() << "\"" << error.message() << "\" does not name it";
      }
    } catch (const std::exception& other) {
      return ::testing::AssertionFailure() << "threw a non-lockstep exception: " << other.what();
    }
    return ::testing::AssertionSuccess();
  }

  TempDir dir_;
  std::string bytes_;
};

// Zero length, one byte short, and every other length: each is an error naming the file.
TEST_F(DamagedCheckpoint, EveryTruncationIsAnErrorNamingTheFile) {
  ASSERT_NO_THROW(load_run(dir_ / "good.ckpt"));
  const auto path = dir_ / "cut.ckpt";
  for (size_t n = 0; n < bytes_.size(); ++n) {
    write_file(path, bytes_.substr(0, n));
    ASSERT_TRUE(corpus::rejects([&] { load_run(path); }, path.string(), "")) << n << " bytes";
  }
}

// Any one byte of the file changed (the length field, the JSON, the metadata, the data) loads
// or gives an error naming the file: never a crash, a foreign exception or a huge allocation.
TEST_F(DamagedCheckpoint, EveryFlippedByteLoadsOrIsAnErrorNamingTheFile) {
  int64_t worst_growth = 0;
  size_t worst_byte = 0;
  for (size_t i = 0; i < bytes_.size(); ++i) {
    for (const unsigned char mask : {0x01, 0x80}) {
      std::string damaged = bytes_;
      damaged[i] = static_cast<char>(damaged[i] ^ mask);
      // Per load: what one damaged file costs, apart from what earlier loads left behind.
      corpus::PeakMemory peak;
      ASSERT_TRUE(loads_or_names_file(damaged)) << "byte " << i << " ^ " << int{mask};
      if (peak.growth_bytes() > worst_growth) {
        worst_growth = peak.growth_bytes();
        worst_byte = i;
      }
    }
  }
  EXPECT_LT(worst_growth, corpus::kMaxPeakGrowthBytes) << "flipping byte " << worst_byte;
}

}  // namespace
}  // namespace lockstep::io
