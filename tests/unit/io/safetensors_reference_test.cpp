// The reader against files written by the reference safetensors implementation (Python
// safetensors.numpy.save_file), and the writer against the same bytes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "io_test_util.h"
#include "lockstep/io/safetensors.h"
#include "support/test_support.h"

namespace lockstep::io {
namespace {

using namespace std::string_literals;
using lockstep::testing::read_file;
using lockstep::testing::TempDir;
using lockstep::testing::write_file;
using testing::throws_error_containing;

// Output of tests/python/make_reference_safetensors.py (safetensors 0.8, numpy 2.4).
const std::string kReferenceWithMetadata =
    "\x98\x00\x00\x00\x00\x00\x00\x00{\"__metadata__\":{\"source\":\"reference\"},\"a\":{\"dt"
    "ype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},\"b\":{\"dtype\":\"F32\",\"shape"
    "\":[2],\"data_offsets\":[24,32]}}  \x00\x00\x00\x00\x00\x00\x80?\x00\x00\x00@\x00\x00@@"
    "\x00\x00\x80@\x00\x00\xa0@\x00\x00\xc0?\x00\x00\x00\xc0"
    ""s;

const std::string kReferenceScalarAndEmpty =
    "x\x00\x00\x00\x00\x00\x00\x00{\"empty\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offset"
    "s\":[0,0]},\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}   \x00"
    "\x00P@"
    ""s;

const std::string kReferenceF64AndF16 =
    "p\x00\x00\x00\x00\x00\x00\x00{\"x\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0"
    ",8]},\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]}}    \x00\x00\x00"
    "\x00\x00\x00\xf0?\x00<\x00@"
    ""s;

TEST(SafetensorsReference, ReadsTensorsInDataOrderWithMetadata) {
  TempDir dir;
  write_file(dir / "r.safetensors", kReferenceWithMetadata);
  const SafetensorsFile file = read_safetensors(dir / "r.safetensors");
  EXPECT_EQ(file.metadata, (std::map<std::string, std::string>{{"source", "reference"}}));
  ASSERT_EQ(file.tensors.size(), 2u);
  EXPECT_EQ(file.tensors[0].name, "a");
  EXPECT_EQ(file.tensors[0].tensor.shape(), (Shape{2, 3}));
  EXPECT_EQ(file.tensors[0].tensor.to_vector(), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(file.tensors[1].name, "b");
  EXPECT_EQ(file.tensors[1].tensor.shape(), (Shape{2}));
  EXPECT_EQ(file.tensors[1].tensor.to_vector(), (std::vector<float>{1.5f, -2.0f}));
}

TEST(SafetensorsReference, ReadsAScalarAndAnEmptyTensor) {
  TempDir dir;
  write_file(dir / "r.safetensors", kReferenceScalarAndEmpty);
  const SafetensorsFile file = read_safetensors(dir / "r.safetensors");
  EXPECT_TRUE(file.metadata.empty());
  ASSERT_EQ(file.tensors.size(), 2u);
  EXPECT_EQ(file.tensors[0].name, "empty");
  EXPECT_EQ(file.tensors[0].tensor.shape(), (Shape{0, 3}));
  EXPECT_EQ(file.tensors[1].name, "scalar");
  EXPECT_EQ(file.tensors[1].tensor.shape(), Shape{});
  EXPECT_EQ(file.tensors[1].tensor.to_vector(), std::vector<float>{3.25f});
}

TEST(SafetensorsReference, IndexesOtherDtypesButLoadsOnlyF32) {
  TempDir dir;
  const auto path = dir / "r.safetensors";
  write_file(path, kReferenceF64AndF16);
  const SafetensorsIndex index = read_safetensors_index(path);
  ASSERT_EQ(index.entries.size(), 2u);
  EXPECT_EQ(index.entries[0].name, "x");
  EXPECT_EQ(index.entries[0].dtype, "F64");
  EXPECT_EQ(index.entries[1].name, "h");
  EXPECT_EQ(index.entries[1].dtype, "F16");
  EXPECT_EQ(index.entries[1].end - index.entries[1].begin, 4u);
  EXPECT_TRUE(throws_error_containing([&] { read_safetensors(path); },
                                      {path.string(), "'x'", "unsupported dtype F64"}));
}

// Tensors given in the reference writer's order (by name for one dtype) give its very bytes.
TEST(SafetensorsReference, WriterReproducesTheReferenceBytes) {
  TempDir dir;
  write_safetensors(dir / "w1.safetensors",
                    {{"a", Tensor::from_vector({2, 3}, std::vector<float>{0, 1, 2, 3, 4, 5})},
                     {"b", Tensor::from_vector({2}, std::vector<float>{1.5f, -2.0f})}},
                    {{"source", "reference"}});
  EXPECT_EQ(read_file(dir / "w1.safetensors"), kReferenceWithMetadata);
  write_safetensors(dir / "w2.safetensors",
                    {{"empty", Tensor::zeros({0, 3})}, {"scalar", Tensor::full({}, 3.25f)}});
  EXPECT_EQ(read_file(dir / "w2.safetensors"), kReferenceScalarAndEmpty);
}

}  // namespace
}  // namespace lockstep::io
