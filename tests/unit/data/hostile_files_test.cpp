// The IDX and npy readers against the hostile corpus (tests/corpus, listed in manifest.tsv):
// every malformed file ends in a lockstep::Error naming the file and the field at fault, never
// a crash, an accepted file or a large allocation; the corpus's valid files load.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "corpus/corpus.h"
#include "lockstep/data/idx.h"
#include "lockstep/data/idx_dataset.h"
#include "lockstep/data/npy.h"

namespace lockstep::data {
namespace {

namespace corpus = lockstep::testing::corpus;

IdxDatasetOptions pair_options() {
  IdxDatasetOptions options;
  options.num_classes = 10;
  return options;
}

// The call the manifest's reader name stands for, or nothing for readers of other parts.
std::function<void()> reader_for(const corpus::Case& c) {
  if (c.reader == "read_idx") return [&c] { read_idx(c.path()); };
  if (c.reader == "read_npy") return [&c] { read_npy(c.path()); };
  if (c.reader == "idx_dataset_images") {
    return [&c] { load_idx_dataset(c.path(), c.companion_path(), pair_options()); };
  }
  if (c.reader == "idx_dataset_labels") {
    return [&c] { load_idx_dataset(c.companion_path(), c.path(), pair_options()); };
  }
  return nullptr;
}

std::vector<corpus::Case> data_cases() {
  std::vector<corpus::Case> cases;
  for (const corpus::Case& c : corpus::read_manifest()) {
    if (reader_for(c)) cases.push_back(c);
  }
  return cases;
}

// Each file: the right error, naming the file and field, with the peak memory barely moving
// (the 3 GiB and 4 TB claims in the corpus would show as gigabytes if they were believed).
TEST(HostileDataFiles, EveryCorpusFileIsRejectedNamingFileAndField) {
  const std::vector<corpus::Case> cases = data_cases();
  ASSERT_GE(cases.size(), 20u) << "corpus manifest " << corpus::kDir / "manifest.tsv";
  for (const corpus::Case& c : cases) {
    SCOPED_TRACE(c.reader + " " + c.file);
    corpus::PeakMemory peak;
    EXPECT_TRUE(corpus::rejects(reader_for(c), c.path().string(), c.fragment));
    EXPECT_LT(peak.growth_bytes(), corpus::kMaxPeakGrowthBytes);
  }
}

// A file dropped into corpus/idx or corpus/npy without a manifest line would test nothing.
TEST(HostileDataFiles, EveryCorpusFileHasAnExpectedError) {
  std::set<std::string> listed;
  for (const corpus::Case& c : data_cases()) {
    listed.insert(c.file);
    listed.insert(c.companion);
  }
  for (const char* folder : {"idx", "npy"}) {
    for (const std::string& file : corpus::files_under(folder)) {
      EXPECT_TRUE(listed.count(file)) << file << " has no line in manifest.tsv";
    }
  }
}

// The well-formed neighbours of the corpus load, so each rejection above comes from the flaw
// the file's name states, not from a reader that refuses everything.
TEST(HostileDataFiles, ValidCorpusFilesLoad) {
  for (const char* name :
       {"valid/idx/u8_2x3.idx", "valid/idx/u8_2x3.idx.gz", "valid/idx/u8_2x3_two_members.idx.gz"}) {
    const IdxArray array = read_idx(corpus::kDir / name);
    EXPECT_EQ(array.dims, Shape({2, 3})) << name;
    EXPECT_EQ(idx_to_tensor(array, 1.0f).to_vector(), std::vector<float>({0, 1, 2, 3, 4, 5}));
  }
  EXPECT_EQ(idx_to_tensor(read_idx(corpus::kDir / "valid/idx/f32_3.idx")).to_vector(),
            std::vector<float>({1.5f, -2.0f, 0.25f}));
  const Dataset pair = load_idx_dataset(corpus::kDir / "valid/idx/u8_2x3.idx",
                                        corpus::kDir / "valid/idx/labels_2.idx", pair_options());
  EXPECT_EQ(pair.labels().to_vector(), std::vector<float>({3, 9}));

  EXPECT_EQ(load_npy_tensor(corpus::kDir / "valid/npy/f4_3.npy").to_vector(),
            std::vector<float>({1, 2, 3}));
  EXPECT_EQ(load_npy_tensor(corpus::kDir / "valid/npy/u1_2x2.npy").shape(), Shape({2, 2}));
  const NpyArray scalar = read_npy(corpus::kDir / "valid/npy/i8_scalar_v2.npy");
  EXPECT_EQ(scalar.shape, Shape({}));
  EXPECT_EQ(npy_to_tensor(scalar).to_vector(), std::vector<float>({-7}));
}

// The memory bound above only means something if the probe sees a real allocation.
TEST(HostileDataFiles, PeakMemoryProbeSeesAFilledAllocation) {
  corpus::PeakMemory peak;
  std::vector<uint8_t> block(size_t{64} << 20, 1);
  EXPECT_GE(peak.growth_bytes() + block[block.size() / 2], int64_t{48} << 20);
}

}  // namespace
}  // namespace lockstep::data
