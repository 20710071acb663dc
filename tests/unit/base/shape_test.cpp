// Shape helpers: element counts (with negative and overflowing extents refused) and printing.
#include "lockstep/base/shape.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "lockstep/base/error.h"

namespace lockstep {
namespace {

TEST(Shape, NumelIsTheProductOfExtents) {
  EXPECT_EQ(shape_numel({}), 1);  // a scalar
  EXPECT_EQ(shape_numel({5}), 5);
  EXPECT_EQ(shape_numel({2, 3, 4}), 24);
  EXPECT_EQ(shape_numel({2, 0, 4}), 0);
}

TEST(Shape, NegativeExtentThrowsNamingTheShape) {
  try {
    shape_numel({2, -3});
    ADD_FAILURE() << "negative extent accepted";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("[2, -3]"), std::string::npos) << e.message();
  }
}

TEST(Shape, OverflowThrows) {
  const int64_t big = int64_t{1} << 32;
  EXPECT_THROW(shape_numel({big, big}), Error);
  EXPECT_EQ(shape_numel({big, 0, big, big}), 0);  // a zero extent makes any shape empty
}

TEST(Shape, Prints) {
  EXPECT_EQ(to_string({}), "[]");
  EXPECT_EQ(to_string({7}), "[7]");
  EXPECT_EQ(to_string({2, 3, 4}), "[2, 3, 4]");
}

}  // namespace
}  // namespace lockstep
