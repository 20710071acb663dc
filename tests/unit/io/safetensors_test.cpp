// Tests of the safetensors writer: round trips, the exact byte layout, and atomic writes
// that leave no temporary behind and never damage the previous file.
#include "lockstep/io/safetensors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "io/safetensors_detail.h"
#include "io_test_util.h"
#include "lockstep/io/atomic_file.h"
#include "support/test_support.h"

namespace lockstep::io {
namespace {

using lockstep::testing::all_close;
using lockstep::testing::random_tensor;
using lockstep::testing::read_file;
using lockstep::testing::TempDir;
using testing::float_bytes;
using testing::little_endian_u64;
using testing::throws_error_containing;

std::vector<std::string> folder_entries(const std::filesystem::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(Safetensors, RoundTripKeepsNamesShapesValuesOrderAndMetadata) {
  TempDir dir;
  const NamedTensors written = {
      {"weight", random_tensor({3, 4}, 1)},
      {"scalar", Tensor::full({}, 2.5f)},
      {"empty", Tensor::zeros({0, 3})},
      {"bias", random_tensor({5}, 2)},
  };
  const std::map<std::string, std::string> metadata = {{"purpose", "test"},
                                                       {"unicode", "caf\xc3\xa9"}};
  write_safetensors(dir / "t.safetensors", written, metadata);
  const SafetensorsFile read = read_safetensors(dir / "t.safetensors");

  EXPECT_EQ(read.metadata, metadata);
  ASSERT_EQ(read.tensors.size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) {
    SCOPED_TRACE(written[i].name);
    EXPECT_EQ(read.tensors[i].name, written[i].name);
    EXPECT_EQ(read.tensors[i].tensor.shape(), written[i].tensor.shape());
    EXPECT_EQ(read.tensors[i].tensor.to_vector(), written[i].tensor.to_vector());
  }
}

TEST(Safetensors, LayoutMatchesHandBuiltBytes) {
  TempDir dir;
  write_safetensors(dir / "t.safetensors",
                    {{"b", Tensor::from_vector({2}, std::vector<float>{1.0f, -2.0f})},
                     {"a", Tensor::full({}, 0.5f)}},
                    {{"k", "v"}});
  // 132 bytes of compact JSON (metadata first, tensors in the order given), padded with four
  // spaces to 136 = 0x88, then the little-endian floats 1.0, -2.0 and 0.5.
  const std::string expected =
      little_endian_u64(136) +
      R"({"__metadata__":{"k":"v"},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("a":{"dtype":"F32","shape":[],"data_offsets":[8,12]}})"
      "    " +
      std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0\x00\x00\x00\x3f", 12);
  EXPECT_EQ(read_file(dir / "t.safetensors"), expected);
}

TEST(Safetensors, HeaderIsPaddedWithSpacesToAMultipleOfEight) {
  TempDir dir;
  for (size_t length = 1; length <= 8; ++length) {
    SCOPED_TRACE("name length " + std::to_string(length));
    write_safetensors(dir / "t.safetensors", {{std::string(length, 'n'), Tensor::zeros({1})}});
    const SafetensorsIndex index = read_safetensors_index(dir / "t.safetensors");
    EXPECT_EQ(index.data_start % 8, 0u);
    const std::string bytes = read_file(dir / "t.safetensors");
    const size_t json_end = bytes.rfind('}', index.data_start) + 1;
    EXPECT_EQ(bytes.substr(json_end, index.data_start - json_end),
              std::string(index.data_start - json_end, ' '));
    EXPECT_LT(index.data_start - json_end, 8u);
  }
}

TEST(Safetensors, WithoutMetadataWritesNoMetadataEntry) {
  TempDir dir;
  write_safetensors(dir / "t.safetensors", {{"x", Tensor::zeros({2})}});
  EXPECT_EQ(read_file(dir / "t.safetensors").find("__metadata__"), std::string::npos);
  EXPECT_TRUE(read_safetensors(dir / "t.safetensors").metadata.empty());
}

TEST(Safetensors, WritesOnlyTheElementsOfARowView) {
  TempDir dir;
  const Tensor whole = random_tensor({4, 2}, 3);
  write_safetensors(dir / "t.safetensors", {{"rows", whole.rows(1, 3)}});
  const SafetensorsFile read = read_safetensors(dir / "t.safetensors");
  ASSERT_EQ(read.tensors.size(), 1u);
  EXPECT_TRUE(all_close(read.tensors[0].tensor, whole.rows(1, 3).clone(), 0, 0));
}

TEST(Safetensors, WriterRejectsDuplicateReservedAndUndefinedNames) {
  TempDir dir;
  const auto path = dir / "t.safetensors";
  EXPECT_TRUE(throws_error_containing(
      [&] {
        write_safetensors(path, {{"a", Tensor::zeros({1})}, {"a", Tensor::zeros({2})}});
      },
      {path.string(), "'a' appears twice"}));
  EXPECT_TRUE(throws_error_containing(
      [&] {
        write_safetensors(path, {{"__metadata__", Tensor::zeros({1})}});
      },
      {path.string(), "reserved"}));
  EXPECT_TRUE(throws_error_containing(
      [&] {
        write_safetensors(path, {{"u", Tensor()}});
      },
      {path.string(), "'u' is undefined"}));
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(folder_entries(dir.path()).empty());
}

TEST(Safetensors, WriteLeavesOnlyTheTargetInTheFolder) {
  TempDir dir;
  write_safetensors(dir / "a.safetensors", {{"x", Tensor::zeros({3})}});
  write_safetensors(dir / "a.safetensors", {{"x", Tensor::full({3}, 1.0f)}});
  write_safetensors(dir / "b.safetensors", {{"y", Tensor::zeros({1})}});
  EXPECT_EQ(folder_entries(dir.path()),
            (std::vector<std::string>{"a.safetensors", "b.safetensors"}));
  EXPECT_EQ(read_safetensors(dir / "a.safetensors").tensors.at(0).tensor.to_vector(),
            (std::vector<float>{1.0f, 1.0f, 1.0f}));
}

TEST(Safetensors, FailedWriteLeavesThePreviousFileByteIdentical) {
  TempDir dir;
  const auto path = dir / "t.safetensors";
  write_safetensors(path, {{"x", random_tensor({4}, 5)}}, {{"step", "1"}});
  const std::string before = read_file(path);
  EXPECT_TRUE(throws_error_containing(
      [&] {
        write_safetensors(path, {{"y", Tensor::zeros({2})}, {"y", Tensor::zeros({2})}});
      },
      {path.string(), "appears twice"}));
  EXPECT_EQ(read_file(path), before);
  EXPECT_EQ(folder_entries(dir.path()), std::vector<std::string>{"t.safetensors"});
}

// Renaming a file over a folder fails even for root: the data is written to the temporary
// first, so this exercises the clean-up after a late failure.
TEST(Safetensors, FailedRenameRemovesTheTemporary) {
  TempDir dir;
  const auto target = dir / "taken";
  std::filesystem::create_directory(target);
  std::filesystem::create_directory(target / "inside");
  EXPECT_TRUE(throws_error_containing(
      [&] {
        write_safetensors(target, {{"x", Tensor::zeros({16})}});
      },
      {target.string(), "renaming the temporary"}));
  EXPECT_EQ(folder_entries(dir.path()), std::vector<std::string>{"taken"});
  EXPECT_EQ(folder_entries(target), std::vector<std::string>{"inside"});
}

TEST(Safetensors, WriteIntoAMissingFolderNamesThePath) {
  TempDir dir;
  const auto path = dir / "missing" / "t.safetensors";
  EXPECT_TRUE(throws_error_containing(
      [&] {
        write_safetensors(path, {{"x", Tensor::zeros({1})}});
      },
      {path.string(), "No such file or directory"}));
  EXPECT_TRUE(folder_entries(dir.path()).empty());
}

TEST(AtomicFile, UncommittedFileLeavesNothingBehind) {
  TempDir dir;
  {
    AtomicFile file(dir / "t.bin");
    file.write("abc", 3);
    EXPECT_EQ(file.temporary_path().parent_path(), dir.path());
    EXPECT_TRUE(std::filesystem::exists(file.temporary_path()));
    EXPECT_FALSE(std::filesystem::exists(dir / "t.bin"));
  }
  EXPECT_TRUE(folder_entries(dir.path()).empty());
}

TEST(AtomicFile, CommitReplacesTheTargetWholly) {
  TempDir dir;
  lockstep::testing::write_file(dir / "t.bin", "old content that is longer");
  AtomicFile file(dir / "t.bin");
  file.write("new", 3);
  EXPECT_EQ(read_file(dir / "t.bin"), "old content that is longer");
  file.commit();
  EXPECT_EQ(read_file(dir / "t.bin"), "new");
  EXPECT_EQ(folder_entries(dir.path()), std::vector<std::string>{"t.bin"});
  EXPECT_TRUE(throws_error_containing([&] { file.write("x", 1); }, {"after commit"}));
}

TEST(AtomicFile, ConcurrentWritersUseDistinctTemporaries) {
  TempDir dir;
  AtomicFile first(dir / "t.bin");
  AtomicFile second(dir / "t.bin");
  EXPECT_NE(first.temporary_path(), second.temporary_path());
}

TEST(SafetensorsDtypes, KnownNamesHaveTheirBitWidthsAndOthersAreUnknown) {
  EXPECT_EQ(detail::safetensors_dtype_bits("F32"), 32);
  EXPECT_EQ(detail::safetensors_dtype_bits("BF16"), 16);
  EXPECT_EQ(detail::safetensors_dtype_bits("F16"), 16);
  EXPECT_EQ(detail::safetensors_dtype_bits("F64"), 64);
  EXPECT_EQ(detail::safetensors_dtype_bits("I64"), 64);
  EXPECT_EQ(detail::safetensors_dtype_bits("BOOL"), 8);
  EXPECT_EQ(detail::safetensors_dtype_bits("F4"), 4);
  EXPECT_EQ(detail::safetensors_dtype_bits("f32"), 0);
  EXPECT_EQ(detail::safetensors_dtype_bits("F33"), 0);
  EXPECT_EQ(detail::safetensors_dtype_bits(""), 0);
}

}  // namespace
}  // namespace lockstep::io
