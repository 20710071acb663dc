// Augmentation: the option text, known shifts and flips of a small image (zeros filling what a
// shift uncovers), draws that depend only on (seed, epoch, sample) and are spread as promised
// (every shift in -2..2, flips at rate 1/2), rows transformed by their sample ids, and clear
// errors for anything but images [C, H, W].
#include "lockstep/data/augment.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/base/error.h"
#include "support/test_support.h"

namespace lockstep::data {
namespace {

const Augmentation kCrop{true, false}, kFlip{false, true}, kBoth{true, true};

// Passes when `f` throws lockstep::Error whose message contains `text`.
::testing::AssertionResult throws_with(const std::function<void()>& f, const std::string& text) {
  try {
    f();
  } catch (const Error& e) {
    if (e.message().find(text) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "message '" << e.message() << "' lacks '" << text << "'";
  }
  return ::testing::AssertionFailure() << "no error";
}

// The image 1, 2, 3, ... in row-major order, [channels, height, width].
std::vector<float> counting_image(int64_t channels, int64_t height, int64_t width) {
  std::vector<float> image(static_cast<size_t>(channels * height * width));
  std::iota(image.begin(), image.end(), 1.0f);
  return image;
}

std::vector<float> augmented(const AugmentDraw& draw, std::vector<float> image, int64_t channels,
                             int64_t height, int64_t width) {
  augment_image(draw, channels, height, width, image.data());
  return image;
}

// Property: the option names parse in either order, "none" and "" mean no augmentation, the
// canonical text reads back, and anything else is refused naming what was found.
TEST(Augmentation, ParsesTheOptionText) {
  EXPECT_EQ(parse_augmentation("crop,flip"), kBoth);
  EXPECT_EQ(parse_augmentation("flip,crop"), kBoth);
  EXPECT_EQ(parse_augmentation("crop"), kCrop);
  EXPECT_EQ(parse_augmentation("flip"), kFlip);
  EXPECT_FALSE(parse_augmentation("none").enabled());
  EXPECT_FALSE(parse_augmentation("").enabled());
  for (const Augmentation& a : {Augmentation{}, kCrop, kFlip, kBoth}) {
    EXPECT_EQ(parse_augmentation(augmentation_text(a)), a) << augmentation_text(a);
  }
  EXPECT_EQ(augmentation_text(kBoth), "crop,flip");
  EXPECT_EQ(augmentation_text({}), "none");

  const std::string expected = "expected a comma list of crop and flip (crop,flip), or none, ";
  EXPECT_TRUE(throws_with([] { parse_augmentation("crop,rotate"); },
                          expected + "found 'rotate' in 'crop,rotate'"));
  EXPECT_TRUE(throws_with([] { parse_augmentation("Crop"); }, expected + "found 'Crop'"));
  EXPECT_TRUE(throws_with([] { parse_augmentation("flip,flip"); },
                          expected + "found 'flip' twice in 'flip,flip'"));
  EXPECT_TRUE(throws_with([] { parse_augmentation("crop,"); },
                          expected + "found an empty name in 'crop,'"));
  EXPECT_TRUE(throws_with([] { parse_augmentation("crop,,flip"); }, expected + "found ''"));
}

// Property: a shift moves the content by (dx, dy) with zeros where nothing moved in, and a flip
// mirrors the shifted image left to right, plane by plane.
TEST(Augmentation, KnownShiftAndFlipOfASmallImage) {
  // 1  2  3  4
  // 5  6  7  8
  // 9 10 11 12
  const std::vector<float> image = counting_image(1, 3, 4);
  EXPECT_EQ(augmented({1, -1, false}, image, 1, 3, 4),
            (std::vector<float>{0, 5, 6, 7, 0, 9, 10, 11, 0, 0, 0, 0}));
  EXPECT_EQ(augmented({-2, 2, false}, image, 1, 3, 4),
            (std::vector<float>{0, 0, 0, 0, 0, 0, 0, 0, 3, 4, 0, 0}));
  EXPECT_EQ(augmented({0, 0, true}, image, 1, 3, 4),
            (std::vector<float>{4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9}));
  EXPECT_EQ(augmented({1, 0, true}, image, 1, 3, 4),
            (std::vector<float>{3, 2, 1, 0, 7, 6, 5, 0, 11, 10, 9, 0}));
  EXPECT_EQ(augmented({}, image, 1, 3, 4), image);

  // Two channels: each plane moves alike.
  const std::vector<float> two = counting_image(2, 2, 2);  // [[1 2][3 4]], [[5 6][7 8]]
  EXPECT_EQ(augmented({0, 1, true}, two, 2, 2, 2), (std::vector<float>{0, 0, 2, 1, 0, 0, 6, 5}));
}

// Property: whatever the draw, a shift by (dx, dy) leaves exactly |dx| columns and |dy| rows of
// zeros at the borders it uncovered, and keeps every other pixel.
TEST(Augmentation, ShiftsFillTheUncoveredBordersWithZeros) {
  const int64_t h = 5, w = 6;
  const std::vector<float> ones(static_cast<size_t>(h * w), 1.0f);
  for (int64_t dx = -kCropPadding; dx <= kCropPadding; ++dx) {
    for (int64_t dy = -kCropPadding; dy <= kCropPadding; ++dy) {
      const std::vector<float> out = augmented({dx, dy, false}, ones, 1, h, w);
      for (int64_t y = 0; y < h; ++y) {
        for (int64_t x = 0; x < w; ++x) {
          const bool uncovered = (dx > 0 && x < dx) || (dx < 0 && x >= w + dx) ||
                                 (dy > 0 && y < dy) || (dy < 0 && y >= h + dy);
          EXPECT_EQ(out[static_cast<size_t>(y * w + x)], uncovered ? 0.0f : 1.0f)
              << "dx " << dx << " dy " << dy << " at (" << x << ", " << y << ")";
        }
      }
    }
  }
}

// Property: a draw is a pure function of (seed, epoch, sample): the same key gives the same
// draw, another epoch, seed or sample another one; a transform that is off draws nothing, and
// the shift is the same whether the flip is on or not.
TEST(Augmentation, DrawsDependOnlyOnSeedEpochAndSample) {
  int64_t epoch_differs = 0, seed_differs = 0, sample_differs = 0;
  for (int64_t sample = 0; sample < 200; ++sample) {
    const AugmentDraw draw = augmentation_draw(kBoth, 7, 3, sample);
    EXPECT_EQ(draw, augmentation_draw(kBoth, 7, 3, sample));
    epoch_differs += draw != augmentation_draw(kBoth, 7, 4, sample);
    seed_differs += draw != augmentation_draw(kBoth, 8, 3, sample);
    sample_differs += draw != augmentation_draw(kBoth, 7, 3, sample + 1);
    const AugmentDraw crop = augmentation_draw(kCrop, 7, 3, sample);
    EXPECT_EQ(crop, (AugmentDraw{draw.dx, draw.dy, false}));
    EXPECT_EQ(augmentation_draw(kFlip, 7, 3, sample), (AugmentDraw{0, 0, draw.flip}));
    EXPECT_EQ(augmentation_draw({}, 7, 3, sample), AugmentDraw{});
  }
  // 25 shifts times 2 flips: two independent draws agree 1 time in 50.
  EXPECT_GT(epoch_differs, 180);
  EXPECT_GT(seed_differs, 180);
  EXPECT_GT(sample_differs, 180);
  // The high words of the seed, epoch and sample count too.
  const auto high = [](int64_t low) { return low | (int64_t{1} << 32); };
  int64_t high_differs = 0;
  for (int64_t i = 0; i < 50; ++i) {
    const AugmentDraw draw = augmentation_draw(kBoth, 7, 3, i);
    high_differs += draw != augmentation_draw(kBoth, 7, high(3), i);
    high_differs += draw != augmentation_draw(kBoth, static_cast<uint64_t>(high(7)), 3, i);
    high_differs += draw != augmentation_draw(kBoth, 7, 3, high(i));
  }
  EXPECT_GT(high_differs, 130);
}

// Property: over many samples every shift in -2..2 occurs about equally often in each direction
// and about half of the images are flipped (each within 5 standard deviations).
TEST(Augmentation, ShiftsAreUniformAndFlipsHappenHalfTheTime) {
  const int64_t n = 20000;
  std::map<int64_t, int64_t> dx_counts, dy_counts;
  int64_t flips = 0;
  for (int64_t sample = 0; sample < n; ++sample) {
    const AugmentDraw draw = augmentation_draw(kBoth, 1, 0, sample);
    ++dx_counts[draw.dx];
    ++dy_counts[draw.dy];
    flips += draw.flip;
  }
  const double flip_sd = std::sqrt(n * 0.25);
  EXPECT_NEAR(static_cast<double>(flips), n * 0.5, 5 * flip_sd);
  const double expected = n / 5.0, sd = std::sqrt(n * 0.2 * 0.8);
  for (const auto* counts : {&dx_counts, &dy_counts}) {
    ASSERT_EQ(counts->size(), 5u);
    for (const auto& [shift, count] : *counts) {
      EXPECT_GE(shift, -kCropPadding);
      EXPECT_LE(shift, kCropPadding);
      EXPECT_NEAR(static_cast<double>(count), expected, 5 * sd) << "shift " << shift;
    }
  }
}

// Property: the draws of the first samples of seed 1, epoch 0 are pinned, so that a change of
// the generator's keying (which would change every augmented run) shows here.
TEST(Augmentation, DrawsArePinned) {
  const std::vector<AugmentDraw> pinned = {{2, 0, true},   {1, 0, true},  {1, 2, false},
                                           {1, -1, false}, {2, 0, false}, {1, 2, false},
                                           {-1, 2, true},  {-1, 2, true}};
  for (size_t i = 0; i < pinned.size(); ++i) {
    EXPECT_EQ(augmentation_draw(kBoth, 1, 0, static_cast<int64_t>(i)), pinned[i]) << i;
  }
}

// Property: a batch's row i is transformed by the draw of its sample id, not by its place in
// the batch: the same samples in another order give the same images in that order.
TEST(Augmentation, RowsAreTransformedByTheirSampleIds) {
  const int64_t rows = 6, c = 2, h = 4, w = 5;
  const Tensor source = lockstep::testing::random_tensor({rows, c, h, w}, 3);
  const std::vector<int64_t> ids = {11, 3, 40, 7, 0, 25};
  Tensor forward = source.clone();
  augment_rows(kBoth, forward, ids, 9, 2);

  Tensor backward = Tensor::empty({rows, c, h, w});
  std::vector<int64_t> reversed(ids.rbegin(), ids.rend());
  for (int64_t i = 0; i < rows; ++i) {
    backward.rows(i, i + 1).copy_from(source.rows(rows - 1 - i, rows - i));
  }
  augment_rows(kBoth, backward, reversed, 9, 2);
  int64_t changed = 0;
  for (int64_t i = 0; i < rows; ++i) {
    const std::vector<float> a = forward.rows(i, i + 1).to_vector();
    EXPECT_EQ(a, backward.rows(rows - 1 - i, rows - i).to_vector()) << "sample " << ids[i];
    std::vector<float> single = source.rows(i, i + 1).to_vector();
    augment_image(augmentation_draw(kBoth, 9, 2, ids[static_cast<size_t>(i)]), c, h, w,
                  single.data());
    EXPECT_EQ(a, single) << "sample " << ids[i];
    changed += a != source.rows(i, i + 1).to_vector();
  }
  EXPECT_GT(changed, 0);
}

// Property: only images [C, H, W] can be augmented; anything else is refused naming the shape,
// and a disabled augmentation accepts any shape and changes nothing.
TEST(Augmentation, RefusesSamplesThatAreNotImages) {
  EXPECT_TRUE(throws_with([] { check_augmentable(kBoth, {784}); },
                          "augmentation crop,flip: expected images [C, H, W], found samples of "
                          "shape [784]"));
  EXPECT_TRUE(throws_with([] { check_augmentable(kFlip, {1, 0, 28}); }, "shape [1, 0, 28]"));
  EXPECT_NO_THROW(check_augmentable(kCrop, {3, 32, 32}));
  EXPECT_NO_THROW(check_augmentable({}, {784}));

  Tensor flat = Tensor::zeros({2, 784});
  const std::vector<int64_t> ids = {0, 1};
  EXPECT_TRUE(throws_with([&] { augment_rows(kCrop, flat, ids, 1, 0); },
                          "augmentation crop: expected host images [n, C, H, W], found shape "
                          "[2, 784]"));
  EXPECT_NO_THROW(augment_rows({}, flat, ids, 1, 0));
  Tensor images = Tensor::zeros({3, 1, 4, 4});
  EXPECT_TRUE(
      throws_with([&] { augment_rows(kCrop, images, ids, 1, 0); }, "3 images but 2 sample ids"));
}

}  // namespace
}  // namespace lockstep::data
