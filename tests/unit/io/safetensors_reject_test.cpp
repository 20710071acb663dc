// The reader against malformed files: each must end in a lockstep::Error that names the file
// and the field at fault, never a crash, a foreign exception or a huge allocation.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "io/safetensors_detail.h"
#include "io_test_util.h"
#include "lockstep/io/safetensors.h"
#include "support/test_support.h"

namespace lockstep::io {
namespace {

using lockstep::testing::TempDir;
using lockstep::testing::write_file;
using testing::float_bytes;
using testing::little_endian_u64;
using testing::safetensors_bytes;
using testing::throws_error_containing;

class SafetensorsReject : public ::testing::Test {
 protected:
  // Writes `bytes` as a file and checks that reading it fails naming the file and fragments.
  ::testing::AssertionResult rejected(const std::string& bytes,
                                      std::initializer_list<std::string> fragments) {
    write_file(path_, bytes);
    std::vector<std::string> all = {path_.string()};
    all.insert(all.end(), fragments);
    return throws_error_containing([&] { read_safetensors(path_); }, all);
  }

  // A one-tensor header around `entry` (the JSON object of tensor "t").
  static std::string one_tensor(const std::string& entry, const std::string& data) {
    return safetensors_bytes(R"({"t":)" + entry + "}", data);
  }

  TempDir dir_;
  std::filesystem::path path_ = dir_ / "bad.safetensors";
};

TEST_F(SafetensorsReject, FileShorterThanTheLengthField) {
  EXPECT_TRUE(rejected("abc", {"3 bytes", "8-byte header length"}));
  EXPECT_TRUE(rejected("", {"0 bytes"}));
}

TEST_F(SafetensorsReject, HeaderLengthPastTheEndOfTheFile) {
  EXPECT_TRUE(rejected(little_endian_u64(100) + "{}", {"header length 100", "past the end"}));
}

TEST_F(SafetensorsReject, HeaderLengthAboveTheLimitIsNotAllocated) {
  // Reading the header would need 200 MB (or 16 EB): the length is refused before that.
  EXPECT_TRUE(rejected(little_endian_u64(200'000'000) + "{}", {"exceeds the limit"}));
  EXPECT_TRUE(rejected(little_endian_u64(~uint64_t{0}) + "{}", {"exceeds the limit"}));
}

TEST_F(SafetensorsReject, HeaderNotJson) {
  EXPECT_TRUE(rejected(safetensors_bytes("{not json", ""), {"header", "not valid JSON"}));
  EXPECT_TRUE(rejected(safetensors_bytes("", ""), {"not valid JSON"}));
  EXPECT_TRUE(rejected(safetensors_bytes("{} trailing", ""), {"not valid JSON"}));
}

TEST_F(SafetensorsReject, HeaderNotAnObject) {
  EXPECT_TRUE(rejected(safetensors_bytes("[1, 2]", ""), {"JSON array", "expected an object"}));
  EXPECT_TRUE(rejected(safetensors_bytes("7", ""), {"expected an object"}));
}

TEST_F(SafetensorsReject, DeeplyNestedHeader) {
  EXPECT_TRUE(rejected(safetensors_bytes(std::string(100000, '['), ""), {"nests deeper"}));
}

TEST_F(SafetensorsReject, EntryMissingDataOffsets) {
  EXPECT_TRUE(rejected(one_tensor(R"({"dtype":"F32","shape":[1]})", float_bytes({1})),
                       {"tensor 't'", "no field 'data_offsets'"}));
}

TEST_F(SafetensorsReject, EntryWithAnUnexpectedField) {
  EXPECT_TRUE(rejected(
      one_tensor(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1})", float_bytes({1})),
      {"tensor 't'", "unexpected field 'extra'"}));
}

TEST_F(SafetensorsReject, EntryNotAnObject) {
  EXPECT_TRUE(rejected(one_tensor("[1]", ""), {"tensor 't'", "JSON array"}));
}

TEST_F(SafetensorsReject, UnknownDtype) {
  EXPECT_TRUE(
      rejected(one_tensor(R"({"dtype":"F33","shape":[1],"data_offsets":[0,4]})", float_bytes({1})),
               {"tensor 't'", "dtype 'F33'", "not a safetensors dtype"}));
  EXPECT_TRUE(
      rejected(one_tensor(R"({"dtype":32,"shape":[1],"data_offsets":[0,4]})", float_bytes({1})),
               {"tensor 't'", "field 'dtype'", "expected a string"}));
}

TEST_F(SafetensorsReject, ShapeWithANegativeExtent) {
  EXPECT_TRUE(rejected(one_tensor(R"({"dtype":"F32","shape":[2,-1],"data_offsets":[0,0]})", ""),
                       {"tensor 't'", "shape extent 1 is -1"}));
}

TEST_F(SafetensorsReject, ShapeExtentNotAnInteger) {
  EXPECT_TRUE(rejected(
      one_tensor(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})", float_bytes({1})),
      {"tensor 't'", "shape extent 0 is 1.5"}));
  EXPECT_TRUE(rejected(
      one_tensor(R"({"dtype":"F32","shape":"2","data_offsets":[0,8]})", float_bytes({1, 2})),
      {"tensor 't'", "field 'shape'", "expected an array"}));
}

TEST_F(SafetensorsReject, ShapeProductOverflow) {
  EXPECT_TRUE(
      rejected(one_tensor(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]})",
                          float_bytes({1})),
               {"tensor 't'", "more elements than 64 bits"}));
  // 2^62 elements fit, their 2^67 bits do not.
  EXPECT_TRUE(
      rejected(one_tensor(R"({"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]})",
                          float_bytes({1})),
               {"tensor 't'", "more bytes than 64 bits"}));
  EXPECT_TRUE(
      rejected(one_tensor(R"({"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]})",
                          float_bytes({1})),
               {"tensor 't'", "larger than int64"}));
}

TEST_F(SafetensorsReject, DataOffsetsEndBeforeBegin) {
  EXPECT_TRUE(rejected(
      one_tensor(R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})", float_bytes({1, 2})),
      {"tensor 't'", "[8, 4]", "end before they begin"}));
}

TEST_F(SafetensorsReject, DataOffsetsMalformed) {
  EXPECT_TRUE(rejected(one_tensor(R"({"dtype":"F32","shape":[1],"data_offsets":[-4,0]})", ""),
                       {"tensor 't'", "data_offsets[0] is -4"}));
  EXPECT_TRUE(rejected(one_tensor(R"({"dtype":"F32","shape":[1],"data_offsets":[0]})", ""),
                       {"tensor 't'", "field 'data_offsets'", "[begin, end]"}));
}

TEST_F(SafetensorsReject, ByteCountNotMatchingTheShape) {
  EXPECT_TRUE(rejected(
      one_tensor(R"({"dtype":"F32","shape":[2,2],"data_offsets":[0,12]})", float_bytes({1, 2, 3})),
      {"tensor 't'", "span 12 bytes", "[2, 2] of F32 needs 16"}));
  EXPECT_TRUE(rejected(
      one_tensor(R"({"dtype":"F16","shape":[3],"data_offsets":[0,8]})", float_bytes({1, 2})),
      {"tensor 't'", "span 8 bytes", "F16 needs 6"}));
  // Three 4-bit values do not fill whole bytes.
  EXPECT_TRUE(rejected(one_tensor(R"({"dtype":"F4","shape":[3],"data_offsets":[0,1]})", "x"),
                       {"tensor 't'", "and a fraction"}));
}

TEST_F(SafetensorsReject, DataOffsetsPastTheBuffer) {
  EXPECT_TRUE(rejected(
      one_tensor(R"({"dtype":"F32","shape":[100],"data_offsets":[0,400]})", float_bytes({1, 2})),
      {"tensor 't'", "reach past the end", "8 bytes"}));
}

TEST_F(SafetensorsReject, OverlappingOffsets) {
  EXPECT_TRUE(
      rejected(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                 float_bytes({1, 2, 3})),
               {"tensor 'b'", "overlap tensor 'a'"}));
}

TEST_F(SafetensorsReject, HoleBetweenTensors) {
  EXPECT_TRUE(
      rejected(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                 R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                                 float_bytes({1, 2, 3})),
               {"bytes [4, 8)", "hole before tensor 'b'"}));
  EXPECT_TRUE(rejected(
      one_tensor(R"({"dtype":"F32","shape":[1],"data_offsets":[4,8]})", float_bytes({1, 2})),
      {"bytes [0, 4)", "hole before tensor 't'"}));
}

TEST_F(SafetensorsReject, TrailingDataAfterTheLastTensor) {
  EXPECT_TRUE(rejected(
      one_tensor(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})", float_bytes({1, 2})),
      {"8 bytes", "cover 4", "trailing data"}));
}

TEST_F(SafetensorsReject, DuplicatedTensorNames) {
  EXPECT_TRUE(rejected(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                         R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                         float_bytes({1, 2})),
                       {"tensor name 'a' appears twice"}));
}

TEST_F(SafetensorsReject, DuplicatedFieldInAnEntry) {
  EXPECT_TRUE(rejected(one_tensor(R"({"dtype":"F32","dtype":"F64","shape":[1],)"
                                  R"("data_offsets":[0,4]})",
                                  float_bytes({1})),
                       {"key 'dtype' appears twice in 't'"}));
}

TEST_F(SafetensorsReject, MetadataValueNotAString) {
  EXPECT_TRUE(rejected(safetensors_bytes(R"({"__metadata__":{"step":3}})", ""),
                       {"'__metadata__' value of key 'step'", "expected a string"}));
  EXPECT_TRUE(rejected(safetensors_bytes(R"({"__metadata__":["x"]})", ""),
                       {"'__metadata__'", "expected an object"}));
}

TEST_F(SafetensorsReject, UnsupportedDtypeWhenLoading) {
  EXPECT_TRUE(rejected(
      one_tensor(R"({"dtype":"F64","shape":[1],"data_offsets":[0,8]})", float_bytes({0, 1.875f})),
      {"tensor 't'", "unsupported dtype F64"}));
  EXPECT_TRUE(
      rejected(one_tensor(R"({"dtype":"BF16","shape":[2],"data_offsets":[0,4]})", float_bytes({1})),
               {"tensor 't'", "unsupported dtype BF16"}));
}

TEST_F(SafetensorsReject, MissingFileAndFolder) {
  EXPECT_TRUE(throws_error_containing([&] { read_safetensors(dir_ / "absent"); },
                                      {(dir_ / "absent").string(), "cannot open"}));
  EXPECT_TRUE(throws_error_containing([&] { read_safetensors(dir_.path()); },
                                      {dir_.path().string(), "not a regular file"}));
}

// Every prefix of a valid file is a truncated file; every one must be refused cleanly.
TEST_F(SafetensorsReject, EveryTruncationIsRejected) {
  const std::string valid =
      one_tensor(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})", float_bytes({1, 2}));
  for (size_t length = 0; length < valid.size(); ++length) {
    SCOPED_TRACE("length " + std::to_string(length));
    write_file(path_, valid.substr(0, length));
    EXPECT_TRUE(throws_error_containing([&] { read_safetensors(path_); }, {path_.string()}));
  }
}

// Overwriting any byte of a valid header must give a header that parses or a
// lockstep::Error (parsed in memory: the file layer is covered by the tests above).
TEST(SafetensorsHeader, CorruptedBytesNeverEscapeAsOtherFailures) {
  const std::string valid =
      R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F16","shape":[],"data_offsets":[8,10]}})";
  ASSERT_EQ(detail::parse_safetensors_header(valid, 10, "memory").entries.size(), 2u);
  for (size_t at = 0; at < valid.size(); ++at) {
    for (const char replacement : {'\0', '\xff', '"', '9', '-', '{', ']', 'e', '\\'}) {
      std::string corrupted = valid;
      corrupted[at] = replacement;
      try {
        detail::parse_safetensors_header(corrupted, 10, "memory");
      } catch (const Error&) {
      } catch (const std::exception& other) {
        ADD_FAILURE() << "byte " << at << " set to " << int(replacement)
                      << " escaped as: " << other.what();
      }
    }
  }
}

}  // namespace
}  // namespace lockstep::io
