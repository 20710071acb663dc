// Dataset (gathering, slicing), synthetic data (deterministic, learnable labels, pinned to
// an independent reference) and the command-line data source forms.
#include "lockstep/data/dataset.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/data/data_spec.h"
#include "lockstep/data/npy.h"
#include "lockstep/data/synthetic.h"
#include "support/test_support.h"

namespace lockstep::data {
namespace {

using lockstep::testing::TempDir;

// Sample i holds the values 100 i + 0 .. 100 i + 5 in shape [2, 3]; its label is 10 i.
Dataset numbered_dataset(int64_t n) {
  std::vector<float> inputs, labels;
  for (int64_t i = 0; i < n; ++i) {
    for (int j = 0; j < 6; ++j) inputs.push_back(static_cast<float>(100 * i + j));
    labels.push_back(static_cast<float>(10 * i));
  }
  return Dataset(Tensor::from_vector({n, 2, 3}, inputs), Tensor::from_vector({n}, labels));
}

TEST(Dataset, ReportsSizeAndShapes) {
  const Dataset data = numbered_dataset(4);
  EXPECT_EQ(data.size(), 4);
  EXPECT_EQ(data.sample_shape(), Shape({2, 3}));
  EXPECT_EQ(data.label_shape(), Shape({}));
  EXPECT_EQ(data.sample_elements(), 6);
  EXPECT_EQ(data.label_elements(), 1);
}

TEST(Dataset, RejectsMismatchedTensors) {
  EXPECT_THROW(Dataset(Tensor::zeros({3, 2}), Tensor::zeros({4})), Error);
  EXPECT_THROW(Dataset(Tensor::zeros({3, 2}), Tensor()), Error);
  EXPECT_THROW(Dataset(Tensor::zeros({}), Tensor::zeros({})), Error);
}

TEST(Dataset, GatherBatchCopiesRowsByIndex) {
  const Dataset data = numbered_dataset(5);
  const std::vector<int64_t> indices = {3, 0, 3, 4};
  Tensor inputs = Tensor::zeros({4, 2, 3});
  Tensor labels = Tensor::zeros({4});
  data.gather_batch(indices, inputs, labels);
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t j = 0; j < 3; ++j) {
      EXPECT_EQ(inputs.at({i, 1, j}), static_cast<float>(100 * indices[i] + 3 + j));
    }
    EXPECT_EQ(labels.at({i}), static_cast<float>(10 * indices[i]));
  }
  auto [fresh_inputs, fresh_labels] = data.gather_batch(indices);
  EXPECT_EQ(fresh_inputs.to_vector(), inputs.to_vector());
  EXPECT_EQ(fresh_labels.to_vector(), labels.to_vector());
}

// A preallocated batch can be filled through a view of its first rows (the last, short batch).
TEST(Dataset, GatherBatchIntoRowView) {
  const Dataset data = numbered_dataset(5);
  Tensor inputs = Tensor::full({4, 2, 3}, -1.0f);
  Tensor labels = Tensor::full({4}, -1.0f);
  Tensor input_rows = inputs.rows(0, 2), label_rows = labels.rows(0, 2);
  const std::vector<int64_t> indices = {4, 1};
  data.gather_batch(indices, input_rows, label_rows);
  EXPECT_EQ(labels.to_vector(), std::vector<float>({40, 10, -1, -1}));
  EXPECT_EQ(inputs.at({1, 0, 0}), 100.0f);
  EXPECT_EQ(inputs.at({2, 0, 0}), -1.0f);
}

TEST(Dataset, GatherBatchChecksIndicesAndShapes) {
  const Dataset data = numbered_dataset(5);
  Tensor inputs = Tensor::zeros({2, 2, 3});
  Tensor labels = Tensor::zeros({2});
  const std::vector<int64_t> high = {0, 5}, negative = {-1, 0}, three = {0, 1, 2};
  EXPECT_THROW(data.gather_batch(high, inputs, labels), Error);
  EXPECT_THROW(data.gather_batch(negative, inputs, labels), Error);
  EXPECT_THROW(data.gather_batch(three, inputs, labels), Error);
  Tensor flat = Tensor::zeros({2, 6});
  const std::vector<int64_t> two = {0, 1};
  EXPECT_THROW(data.gather_batch(two, flat, labels), Error);
}

TEST(Dataset, GatherBatchCopiesTargetRows) {
  const Tensor targets = Tensor::from_vector({3, 2}, std::vector<float>{0, 1, 2, 3, 4, 5});
  const Dataset data(Tensor::zeros({3, 4}), targets);
  EXPECT_EQ(data.label_shape(), Shape({2}));
  const std::vector<int64_t> indices = {2, 0};
  EXPECT_EQ(data.gather_batch(indices).second.to_vector(), std::vector<float>({4, 5, 0, 1}));
}

TEST(Dataset, SliceSelectAndSplit) {
  const Dataset data = numbered_dataset(6);
  const Dataset middle = data.slice(2, 5);
  EXPECT_EQ(middle.size(), 3);
  EXPECT_TRUE(middle.inputs().shares_storage(data.inputs()));
  EXPECT_EQ(middle.labels().to_vector(), std::vector<float>({20, 30, 40}));
  EXPECT_THROW(data.slice(4, 7), Error);
  EXPECT_THROW(data.slice(3, 2), Error);
  const std::vector<int64_t> picks = {5, 1};
  const Dataset chosen = data.select(picks);
  EXPECT_FALSE(chosen.inputs().shares_storage(data.inputs()));
  EXPECT_EQ(chosen.labels().to_vector(), std::vector<float>({50, 10}));
  const auto [train, validation] = split_dataset(data, 4);
  EXPECT_EQ(train.size(), 4);
  EXPECT_EQ(validation.labels().to_vector(), std::vector<float>({40, 50}));
  EXPECT_THROW(split_dataset(data, 7), Error);
}

TEST(Synthetic, IsDeterministicForASeed) {
  const Dataset a = make_synthetic(50, {3, 4}, 5, 11);
  const Dataset b = make_synthetic(50, {3, 4}, 5, 11);
  const Dataset c = make_synthetic(50, {3, 4}, 5, 12);
  EXPECT_EQ(a.inputs().shape(), Shape({50, 3, 4}));
  EXPECT_EQ(a.labels().shape(), Shape({50}));
  EXPECT_EQ(a.inputs().to_vector(), b.inputs().to_vector());
  EXPECT_EQ(a.labels().to_vector(), b.labels().to_vector());
  EXPECT_NE(a.inputs().to_vector(), c.inputs().to_vector());
  // A sample does not depend on how many samples are made.
  const Dataset longer = make_synthetic(80, {3, 4}, 5, 11);
  EXPECT_EQ(longer.slice(0, 50).inputs().to_vector(), a.inputs().to_vector());
  EXPECT_EQ(longer.slice(0, 50).labels().to_vector(), a.labels().to_vector());
}

// Values from an independent Python implementation of Philox and of the teacher.
TEST(Synthetic, MatchesPinnedReference) {
  const Dataset data = make_synthetic(20, {12}, 5, 2024);
  EXPECT_EQ(data.labels().to_vector(),
            std::vector<float>({2, 4, 2, 0, 2, 4, 2, 1, 4, 3, 4, 2, 1, 0, 1, 4, 0, 3, 2, 4}));
  EXPECT_EQ(data.inputs().at({0, 0}), 794037.0f / 16777216.0f);
  EXPECT_EQ(data.inputs().at({0, 1}), 5372069.0f / 16777216.0f);
  EXPECT_EQ(data.inputs().at({0, 2}), 16748065.0f / 16777216.0f);
  EXPECT_EQ(data.inputs().at({3, 11}), 3372945.0f / 16777216.0f);
  EXPECT_EQ(make_synthetic(6, {3, 4, 4}, 10, 1).labels().to_vector(),
            std::vector<float>({0, 0, 9, 8, 4, 3}));
}

// Inputs lie in [0, 1); labels are class ids that use every class (the data are not trivial)
// and are a linear function of the inputs: a nearest-class-mean rule beats chance clearly.
TEST(Synthetic, InputsInRangeAndLabelsLearnable) {
  const int64_t n = 2000, classes = 5, features = 12;
  const Dataset data = make_synthetic(n, {features}, classes, 7);
  const std::vector<float> x = data.inputs().to_vector(), y = data.labels().to_vector();
  EXPECT_GE(*std::min_element(x.begin(), x.end()), 0.0f);
  EXPECT_LT(*std::max_element(x.begin(), x.end()), 1.0f);
  std::vector<int64_t> count(classes, 0);
  std::vector<double> mean(classes * features, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const float label = y[static_cast<size_t>(i)];
    ASSERT_EQ(label, std::floor(label));
    ASSERT_TRUE(label >= 0 && label < classes);
    const auto c = static_cast<int64_t>(label);
    ++count[static_cast<size_t>(c)];
    for (int64_t f = 0; f < features; ++f)
      mean[static_cast<size_t>(c * features + f)] += x[static_cast<size_t>(i * features + f)];
  }
  for (int64_t c = 0; c < classes; ++c) {
    EXPECT_GT(count[static_cast<size_t>(c)], n / 20) << "class " << c;
    for (int64_t f = 0; f < features; ++f)
      mean[static_cast<size_t>(c * features + f)] /=
          static_cast<double>(count[static_cast<size_t>(c)]);
  }
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    double best_distance = 1e300;
    for (int64_t c = 0; c < classes; ++c) {
      double d = 0;
      for (int64_t f = 0; f < features; ++f) {
        const double diff =
            x[static_cast<size_t>(i * features + f)] - mean[static_cast<size_t>(c * features + f)];
        d += diff * diff;
      }
      if (d < best_distance) best_distance = d, best = c;
    }
    correct += best == static_cast<int64_t>(y[static_cast<size_t>(i)]);
  }
  EXPECT_GT(correct, n / 2) << "nearest class mean gets " << correct << " of " << n;
}

TEST(Synthetic, RejectsBadArguments) {
  EXPECT_THROW(make_synthetic(-1, {4}, 2, 0), Error);
  EXPECT_THROW(make_synthetic(4, {0}, 2, 0), Error);
  EXPECT_THROW(make_synthetic(4, {4}, 0, 0), Error);
  EXPECT_THROW(make_synthetic(4, {4}, (int64_t{1} << 24) + 1, 0), Error);
  EXPECT_EQ(make_synthetic(0, {4}, 3, 0).size(), 0);
  const Dataset one_class = make_synthetic(5, {4}, 1, 0);
  EXPECT_EQ(one_class.labels().to_vector(), std::vector<float>(5, 0.0f));
}

TEST(DataSpec, ParsesTheThreeForms) {
  const DataSpec synthetic = parse_data_spec("synthetic:6000");
  EXPECT_EQ(synthetic.kind, DataSpec::Kind::kSynthetic);
  EXPECT_EQ(synthetic.num_samples, 6000);
  const DataSpec fashion = parse_data_spec("fashion-mnist");
  EXPECT_EQ(fashion.kind, DataSpec::Kind::kFashionMnist);
  EXPECT_TRUE(fashion.dir.empty());
  EXPECT_EQ(parse_data_spec("fashion-mnist:/data/fm").dir, "/data/fm");
  const DataSpec npy = parse_data_spec("npy:x.npy,y.npy");
  EXPECT_EQ(npy.kind, DataSpec::Kind::kNpy);
  EXPECT_EQ(npy.inputs_path, "x.npy");
  EXPECT_EQ(npy.labels_path, "y.npy");
}

TEST(DataSpec, RejectsMalformedText) {
  for (const char* text : {"", "synthetic", "synthetic:", "synthetic:0", "synthetic:-4",
                           "synthetic:12x", "synthetic:+5", "synthetic:99999999999999999999",
                           "mnist", "fashion-mnist:", "npy:", "npy:x.npy", "npy:,y.npy",
                           "npy:x.npy,", "npy:a,b,c", "Synthetic:5"}) {
    EXPECT_THROW(parse_data_spec(text), Error) << "'" << text << "'";
  }
}

TEST(DataSpec, LoadsNpyPairs) {
  TempDir dir;
  const Dataset data = make_synthetic(7, {2, 2}, 3, 5);
  save_npy(dir / "x.npy", data.inputs());
  NpyArray labels{NpyDtype::kInt64, {7}, std::vector<uint8_t>(7 * 8, 0)};
  for (int i = 0; i < 7; ++i)
    labels.bytes[static_cast<size_t>(8 * i)] = static_cast<uint8_t>(i % 3);
  write_npy(dir / "y.npy", labels);
  const Dataset loaded = load_npy_dataset(dir / "x.npy", dir / "y.npy");
  EXPECT_EQ(loaded.inputs().to_vector(), data.inputs().to_vector());
  EXPECT_EQ(loaded.labels().to_vector(), std::vector<float>({0, 1, 2, 0, 1, 2, 0}));
  save_npy(dir / "short.npy", Tensor::zeros({6}));
  EXPECT_THROW(load_npy_dataset(dir / "x.npy", dir / "short.npy"), Error);
}

}  // namespace
}  // namespace lockstep::data
