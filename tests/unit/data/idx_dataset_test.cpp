// IDX datasets: the real Fashion-MNIST files (skipped when absent) and the checks that tie
// an images file to its labels file.
#include "lockstep/data/idx_dataset.h"

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/data/idx.h"
#include "support/test_support.h"

namespace lockstep::data {
namespace {

using lockstep::testing::TempDir;

const std::filesystem::path kFashionDir = LOCKSTEP_FASHION_MNIST_DIR;

bool have_fashion_mnist() {
  return std::filesystem::exists(kFashionDir / "train-images-idx3-ubyte.gz") &&
         std::filesystem::exists(kFashionDir / "t10k-labels-idx1-ubyte.gz");
}

void write_uint8(const std::filesystem::path& path, const Shape& dims,
                 const std::vector<uint8_t>& values) {
  IdxArray array;
  array.type = IdxType::kUint8;
  array.dims = dims;
  array.data = values;
  write_idx(path, array);
}

// The sizes, the first labels (read from the files with Python's gzip module) and the pixel
// range of both splits.
TEST(FashionMnist, LoadsBothSplitsWithKnownLabels) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not found in " << kFashionDir;
  struct Split {
    const char* name;
    int64_t size;
    std::vector<float> first_labels;
    float first_image_sum;  // sum of the first image's bytes / 255
  };
  const Split splits[] = {
      {"train",
       60000,
       {9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9, 5, 5, 7, 9, 1, 0, 6, 4},
       76247.0f / 255.0f},
      {"test",
       10000,
       {9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5, 7, 3, 4, 1, 2, 4, 8, 0},
       33456.0f / 255.0f},
  };
  for (const Split& split : splits) {
    const Dataset data = load_fashion_mnist(kFashionDir, split.name);
    ASSERT_EQ(data.size(), split.size) << split.name;
    EXPECT_EQ(data.inputs().shape(), Shape({split.size, 1, 28, 28}));
    EXPECT_EQ(data.labels().shape(), Shape({split.size}));
    const std::vector<float> labels = data.labels().to_vector();
    EXPECT_EQ(std::vector<float>(labels.begin(), labels.begin() + 20), split.first_labels);
    EXPECT_EQ(*std::min_element(labels.begin(), labels.end()), 0.0f);
    EXPECT_EQ(*std::max_element(labels.begin(), labels.end()), 9.0f);
    const float* pixels = data.inputs().data();
    const auto [lo, hi] = std::minmax_element(pixels, pixels + data.inputs().numel());
    EXPECT_EQ(*lo, 0.0f);
    EXPECT_EQ(*hi, 1.0f);
    double first_sum = 0.0;
    for (int i = 0; i < 784; ++i) first_sum += pixels[i];
    EXPECT_NEAR(first_sum, split.first_image_sum, 1e-3);
  }
}

TEST(FashionMnist, RejectsUnknownSplitAndMissingFolder) {
  EXPECT_THROW(load_fashion_mnist(kFashionDir, "validation"), Error);
  TempDir dir;
  try {
    load_fashion_mnist(dir.path(), "train");
    ADD_FAILURE() << "an empty folder was accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("train-images-idx3-ubyte.gz"), std::string::npos) << e.message();
  }
}

// Images [N, H, W] gain a channel dimension, uint8 pixels are scaled onto [0, 1] and labels
// become float class ids.
TEST(IdxDataset, LoadsImagesAndLabels) {
  TempDir dir;
  write_uint8(dir / "images", {3, 2, 2}, {0, 51, 102, 255, 1, 2, 3, 4, 5, 6, 7, 8});
  write_uint8(dir / "labels", {3}, {4, 0, 9});
  const Dataset data = load_idx_dataset(dir / "images", dir / "labels");
  EXPECT_EQ(data.inputs().shape(), Shape({3, 1, 2, 2}));
  EXPECT_EQ(data.labels().to_vector(), std::vector<float>({4, 0, 9}));
  EXPECT_FLOAT_EQ(data.inputs().at({0, 0, 0, 1}), 0.2f);
  EXPECT_EQ(data.inputs().at({0, 0, 1, 1}), 1.0f);
}

// Expects load_idx_dataset to throw with `fragment` in the message.
void expect_rejected(const std::filesystem::path& images, const std::filesystem::path& labels,
                     const IdxDatasetOptions& options, const std::string& fragment) {
  try {
    load_idx_dataset(images, labels, options);
    ADD_FAILURE() << "accepted, expected an error with '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find(fragment), std::string::npos) << e.message();
  }
}

TEST(IdxDataset, RejectsInconsistentFiles) {
  TempDir dir;
  write_uint8(dir / "images", {3, 2, 2}, std::vector<uint8_t>(12, 1));
  write_uint8(dir / "labels2", {2}, {0, 1});
  write_uint8(dir / "labels_big", {3}, {0, 10, 1});
  write_uint8(dir / "labels_2d", {3, 1}, {0, 1, 2});
  IdxArray float_labels{IdxType::kFloat32, {3}, std::vector<uint8_t>(12, 0)};
  write_idx(dir / "labels_float", float_labels);
  write_uint8(dir / "labels", {3}, {0, 1, 2});
  IdxDatasetOptions ten;
  ten.num_classes = 10;
  expect_rejected(dir / "images", dir / "labels2", ten, "hold 3 samples");
  expect_rejected(dir / "images", dir / "labels_big", ten, "label 1 is 10, expected 0 to 9");
  expect_rejected(dir / "images", dir / "labels_2d", ten, "expected one dimension");
  expect_rejected(dir / "images", dir / "labels_float", ten, "expected integer labels");
  IdxDatasetOptions shaped = ten;
  shaped.input_dims = {28, 28};
  expect_rejected(dir / "images", dir / "labels", shaped, "expected images of [28, 28]");
  IdxDatasetOptions typed = ten;
  typed.input_type = IdxType::kFloat32;
  expect_rejected(dir / "images", dir / "labels", typed, "expected elements of type float32");
  EXPECT_EQ(load_idx_dataset(dir / "images", dir / "labels", ten).size(), 3);
}

}  // namespace
}  // namespace lockstep::data
