// Tensor: construction, views sharing storage, bounds errors that name shapes, copies.
#include "lockstep/tensor/tensor.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lockstep/base/error.h"

namespace lockstep {
namespace {

// Runs `f`, expects a lockstep::Error, and returns its message.
template <typename F>
std::string error_message(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.message();
  }
  ADD_FAILURE() << "no lockstep::Error was thrown";
  return {};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(Tensor, DefaultIsUndefined) {
  const Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_EQ(t.numel(), 0);
  EXPECT_EQ(t.data(), nullptr);
  EXPECT_TRUE(t.device().is_cpu());
}

TEST(Tensor, FactoriesSetShapeAndValues) {
  const Tensor z = Tensor::zeros({2, 3});
  EXPECT_TRUE(z.defined());
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.dim(), 2);
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(z.bytes(), 24u);
  EXPECT_EQ(z.size(0), 2);
  EXPECT_EQ(z.size(-1), 3);
  EXPECT_EQ(z.to_vector(), std::vector<float>(6, 0.0f));
  EXPECT_EQ(Tensor::full({4}, 2.5f).to_vector(), std::vector<float>(4, 2.5f));
  const Tensor v = Tensor::from_vector({2, 2}, std::vector<float>{1, 2, 3, 4});
  EXPECT_EQ(v.at({1, 0}), 3.0f);
  EXPECT_EQ(Tensor::zeros({0, 5}).numel(), 0);
}

TEST(Tensor, SizeOutOfRangeThrowsNamingShape) {
  const Tensor t = Tensor::zeros({2, 3});
  EXPECT_TRUE(contains(error_message([&] { t.size(2); }), "[2, 3]"));
  EXPECT_TRUE(contains(error_message([&] { t.size(-3); }), "[2, 3]"));
}

TEST(Tensor, FromVectorCountMismatchThrows) {
  const std::string message = error_message([] {
    Tensor::from_vector({2, 3}, std::vector<float>{1, 2, 3});
  });
  EXPECT_TRUE(contains(message, "[2, 3]")) << message;
  EXPECT_TRUE(contains(message, "6")) << message;
  EXPECT_TRUE(contains(message, "3")) << message;
}

TEST(Tensor, ViewsShareStorage) {
  Tensor t = Tensor::from_vector({3, 2}, std::vector<float>{0, 1, 2, 3, 4, 5});
  Tensor flat = t.reshape({-1});
  EXPECT_EQ(flat.shape(), (Shape{6}));
  EXPECT_TRUE(flat.shares_storage(t));
  Tensor middle = t.rows(1, 3);
  EXPECT_EQ(middle.shape(), (Shape{2, 2}));
  EXPECT_EQ(middle.to_vector(), (std::vector<float>{2, 3, 4, 5}));
  middle.at({0, 1}) = 30.0f;
  EXPECT_EQ(t.at({1, 1}), 30.0f);
  EXPECT_EQ(flat.at({3}), 30.0f);
  Tensor alias = t;  // copying the object aliases the data
  alias.fill(7.0f);
  EXPECT_EQ(t.to_vector(), std::vector<float>(6, 7.0f));
  EXPECT_EQ(t.rows(3, 3).numel(), 0);
  EXPECT_EQ(t.reshape({2, -1, 1}).shape(), (Shape{2, 3, 1}));
}

TEST(Tensor, ReshapeErrorsNameShapes) {
  const Tensor t = Tensor::zeros({2, 3});
  std::string message = error_message([&] { t.reshape({4, 2}); });
  EXPECT_TRUE(contains(message, "[2, 3]") && contains(message, "[4, 2]")) << message;
  message = error_message([&] { t.reshape({-1, 4}); });
  EXPECT_TRUE(contains(message, "[2, 3]") && contains(message, "[-1, 4]")) << message;
  EXPECT_THROW(t.reshape({-1, -1}), Error);
  EXPECT_THROW(t.reshape({-2, -3}), Error);
}

TEST(Tensor, RowsOutOfRangeThrowsNamingShape) {
  const Tensor t = Tensor::zeros({4, 2});
  for (auto range : {std::pair<int64_t, int64_t>{0, 5}, {-1, 2}, {3, 2}}) {
    const std::string message = error_message([&] { t.rows(range.first, range.second); });
    EXPECT_TRUE(contains(message, "[4, 2]")) << message;
  }
}

TEST(Tensor, AtChecksIndexCountAndBounds) {
  Tensor t = Tensor::zeros({2, 3});
  t.at({1, 2}) = 5.0f;
  EXPECT_EQ(t.to_vector()[5], 5.0f);
  EXPECT_TRUE(contains(error_message([&] { t.at({2, 0}); }), "[2, 3]"));
  EXPECT_TRUE(contains(error_message([&] { t.at({0, -1}); }), "[2, 3]"));
  EXPECT_TRUE(contains(error_message([&] { t.at({0}); }), "[2, 3]"));
  EXPECT_THROW(Tensor().at({0}), Error);
}

TEST(Tensor, CloneIsIndependent) {
  Tensor t = Tensor::from_vector({3}, std::vector<float>{1, 2, 3});
  Tensor c = t.clone();
  EXPECT_FALSE(c.shares_storage(t));
  EXPECT_EQ(c.to_vector(), t.to_vector());
  c.at({0}) = 100.0f;
  EXPECT_EQ(t.at({0}), 1.0f);
  // A clone of a view copies only the view.
  const Tensor row = Tensor::from_vector({2, 2}, std::vector<float>{1, 2, 3, 4}).rows(1, 2).clone();
  EXPECT_EQ(row.to_vector(), (std::vector<float>{3, 4}));
}

TEST(Tensor, CopyFromChecksElementCount) {
  Tensor dst = Tensor::zeros({2, 2});
  dst.copy_from(Tensor::from_vector({4}, std::vector<float>{1, 2, 3, 4}));  // shapes may differ
  EXPECT_EQ(dst.to_vector(), (std::vector<float>{1, 2, 3, 4}));
  const std::string message = error_message([&] { dst.copy_from(Tensor::zeros({3})); });
  EXPECT_TRUE(contains(message, "[3]") && contains(message, "[2, 2]")) << message;
  // Copy into a view writes through to the parent.
  Tensor parent = Tensor::zeros({3, 2});
  parent.rows(1, 2).copy_from(Tensor::full({2}, 9.0f));
  EXPECT_EQ(parent.to_vector(), (std::vector<float>{0, 0, 9, 9, 0, 0}));
}

TEST(Tensor, SameShapeAndDeviceChecks) {
  const Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({3, 2});
  EXPECT_NO_THROW(check_same_shape(a, a, "test"));
  const std::string message = error_message([&] { check_same_shape(a, b, "Dense"); });
  EXPECT_TRUE(contains(message, "Dense") && contains(message, "[2, 3]") &&
              contains(message, "[3, 2]"))
      << message;
  EXPECT_NO_THROW(check_same_device(a, b, "test"));
}

TEST(Tensor, NegativeExtentThrows) { EXPECT_THROW(Tensor::zeros({2, -1}), Error); }

}  // namespace
}  // namespace lockstep
