// im2col against its definition (strides, padding, rectangular kernels) and col2im as its
// adjoint: <im2col(x), c> == <x, col2im(c)>. Random geometries run both paths of the CPU
// backend (horizontal stride 1, and any other stride) against naive loops, bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "support/test_support.h"

namespace lockstep::backend {
namespace {

Backend& cpu() { return backend_for(Device::cpu()); }

ConvGeometry geometry(int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t sh,
                      int64_t sw, int64_t ph, int64_t pw) {
  ConvGeometry g;
  g.channels = c, g.height = h, g.width = w, g.kernel_h = kh, g.kernel_w = kw;
  g.stride_h = sh, g.stride_w = sw, g.pad_h = ph, g.pad_w = pw;
  return g;
}

// columns[(c, ky, kx), (oy, ox)] = image[c, oy*sh - ph + ky, ox*sw - pw + kx], 0 outside.
std::vector<float> naive_im2col(const std::vector<float>& image, const ConvGeometry& g) {
  const int64_t oh = g.out_h(), ow = g.out_w();
  std::vector<float> columns(static_cast<size_t>(g.patch_size() * oh * ow));
  for (int64_t c = 0; c < g.channels; ++c)
    for (int64_t ky = 0; ky < g.kernel_h; ++ky)
      for (int64_t kx = 0; kx < g.kernel_w; ++kx)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            const int64_t iy = oy * g.stride_h - g.pad_h + ky, ix = ox * g.stride_w - g.pad_w + kx;
            const bool inside = iy >= 0 && iy < g.height && ix >= 0 && ix < g.width;
            const int64_t row = (c * g.kernel_h + ky) * g.kernel_w + kx;
            columns[static_cast<size_t>((row * oh + oy) * ow + ox)] =
                inside ? image[static_cast<size_t>((c * g.height + iy) * g.width + ix)] : 0.0f;
          }
  return columns;
}

const std::vector<ConvGeometry>& cases() {
  static const std::vector<ConvGeometry> all = {
      geometry(2, 7, 6, 3, 3, 2, 2, 1, 1),  // the brief's case: stride 2, padding 1
      geometry(3, 5, 5, 3, 3, 1, 1, 0, 0), geometry(1, 4, 9, 2, 3, 1, 2, 0, 1),
      geometry(2, 6, 5, 5, 4, 3, 1, 2, 3), geometry(1, 1, 1, 1, 1, 1, 1, 0, 0),
      geometry(1, 3, 3, 3, 3, 1, 1, 2, 2),  // padding wider than half the kernel
      geometry(2, 8, 8, 1, 1, 2, 2, 0, 0),
  };
  return all;
}

TEST(Im2col, MatchesDefinition) {
  for (const ConvGeometry& g : cases()) {
    const Tensor image = testing::random_tensor({g.channels, g.height, g.width}, 3);
    const std::vector<float> x = image.to_vector();
    // Poison the output so an entry im2col forgets to write shows up.
    std::vector<float> columns(static_cast<size_t>(g.patch_size() * g.out_h() * g.out_w()), NAN);
    cpu().im2col(x.data(), g, columns.data());
    EXPECT_EQ(columns, naive_im2col(x, g))
        << "kernel " << g.kernel_h << "x" << g.kernel_w << " stride " << g.stride_h << "x"
        << g.stride_w << " pad " << g.pad_h << "x" << g.pad_w;
  }
}

TEST(Col2im, IsTheAdjointOfIm2col) {
  for (const ConvGeometry& g : cases()) {
    const int64_t image_size = g.channels * g.height * g.width;
    const int64_t column_size = g.patch_size() * g.out_h() * g.out_w();
    const std::vector<float> x = testing::random_tensor({image_size}, 21).to_vector();
    const std::vector<float> c = testing::random_tensor({column_size}, 22).to_vector();
    std::vector<float> unfolded(static_cast<size_t>(column_size));
    std::vector<float> folded(static_cast<size_t>(image_size), NAN);  // col2im overwrites
    cpu().im2col(x.data(), g, unfolded.data());
    cpu().col2im(c.data(), g, folded.data());
    double lhs = 0.0, rhs = 0.0;
    for (int64_t i = 0; i < column_size; ++i) lhs += static_cast<double>(unfolded[i]) * c[i];
    for (int64_t i = 0; i < image_size; ++i) rhs += static_cast<double>(x[i]) * folded[i];
    EXPECT_NEAR(lhs, rhs, 1e-5 * (1.0 + std::abs(lhs)));
  }
}

TEST(Col2im, SumsOverlappingWindows) {
  // One 3x3 image, 2x2 kernel, stride 1: the centre pixel lies in all four windows.
  const ConvGeometry g = geometry(1, 3, 3, 2, 2, 1, 1, 0, 0);
  const std::vector<float> ones(16, 1.0f);
  std::vector<float> image(9);
  cpu().col2im(ones.data(), g, image.data());
  EXPECT_EQ(image, (std::vector<float>{1, 2, 1, 2, 4, 2, 1, 2, 1}));
}

// image[c, iy, ix] = sum of columns[(c, ky, kx), (oy, ox)] over the windows covering it, added
// in the order (ky, kx, oy, ox) from 0: the order the backend documents for both its paths.
std::vector<float> naive_col2im(const std::vector<float>& columns, const ConvGeometry& g) {
  const int64_t oh = g.out_h(), ow = g.out_w();
  std::vector<float> image(static_cast<size_t>(g.channels * g.height * g.width), 0.0f);
  for (int64_t c = 0; c < g.channels; ++c)
    for (int64_t ky = 0; ky < g.kernel_h; ++ky)
      for (int64_t kx = 0; kx < g.kernel_w; ++kx)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            const int64_t iy = oy * g.stride_h - g.pad_h + ky, ix = ox * g.stride_w - g.pad_w + kx;
            if (iy < 0 || iy >= g.height || ix < 0 || ix >= g.width) continue;
            const int64_t row = (c * g.kernel_h + ky) * g.kernel_w + kx;
            image[static_cast<size_t>((c * g.height + iy) * g.width + ix)] +=
                columns[static_cast<size_t>((row * oh + oy) * ow + ox)];
          }
  return image;
}

// Bit patterns, so that -0 differs from +0 and NaN equals itself in comparisons.
std::vector<uint32_t> bits(const std::vector<float>& values) {
  std::vector<uint32_t> out(values.size());
  if (!values.empty()) std::memcpy(out.data(), values.data(), values.size() * sizeof(float));
  return out;
}

// Random geometries, half with horizontal stride 1 (the contiguous path) and half with a
// larger one (the general path); paddings up to the kernel size, odd and even image sizes,
// plus the two convolutions of the built-in cnn.
std::vector<ConvGeometry> random_geometries(int count, uint32_t seed) {
  std::mt19937 rng(seed);
  auto pick = [&](int64_t low, int64_t high) {
    return std::uniform_int_distribution<int64_t>(low, high)(rng);
  };
  std::vector<ConvGeometry> all = {geometry(1, 28, 28, 5, 5, 1, 1, 0, 0),
                                   geometry(32, 12, 12, 5, 5, 1, 1, 0, 0)};
  for (int i = 0; i < count; ++i) {
    const int64_t kh = pick(1, 5), kw = pick(1, 5), ph = pick(0, kh), pw = pick(0, kw);
    const int64_t sw = i % 2 == 0 ? 1 : pick(2, 3);
    const int64_t h = pick(std::max<int64_t>(1, kh - 2 * ph), 11);
    const int64_t w = pick(std::max<int64_t>(1, kw - 2 * pw), 11);
    all.push_back(geometry(pick(1, 3), h, w, kh, kw, pick(1, 3), sw, ph, pw));
  }
  return all;
}

std::string describe(const ConvGeometry& g) {
  return "image " + std::to_string(g.channels) + "x" + std::to_string(g.height) + "x" +
         std::to_string(g.width) + " kernel " + std::to_string(g.kernel_h) + "x" +
         std::to_string(g.kernel_w) + " stride " + std::to_string(g.stride_h) + "x" +
         std::to_string(g.stride_w) + " pad " + std::to_string(g.pad_h) + "x" +
         std::to_string(g.pad_w);
}

// Guards the horizontal-stride-1 path (rectangles of contiguous copies with padding borders)
// and the general path against the definition, bit for bit, on geometries neither was
// written for; the count check keeps the test from passing with one path untested.
TEST(Im2col, BothPathsMatchDefinitionOnRandomGeometries) {
  int unit_stride_padded = 0, general = 0;
  for (const ConvGeometry& g : random_geometries(200, 5)) {
    unit_stride_padded += g.stride_w == 1 && (g.pad_h > 0 || g.pad_w > 0);
    general += g.stride_w > 1;
    const std::vector<float> x =
        testing::random_tensor({g.channels * g.height * g.width}, 31).to_vector();
    std::vector<float> columns(static_cast<size_t>(g.patch_size() * g.out_h() * g.out_w()), NAN);
    cpu().im2col(x.data(), g, columns.data());
    ASSERT_EQ(bits(columns), bits(naive_im2col(x, g))) << describe(g);
  }
  EXPECT_GE(unit_stride_padded, 50);
  EXPECT_GE(general, 50);
}

// col2im adds every pixel's contributions in one fixed order on both paths, so its result is
// the naive sum bit for bit (a reordered sum would differ in the last bits somewhere here).
TEST(Col2im, BothPathsMatchNaiveSumBitForBit) {
  for (const ConvGeometry& g : random_geometries(200, 6)) {
    const std::vector<float> c =
        testing::random_tensor({g.patch_size() * g.out_h() * g.out_w()}, 32).to_vector();
    std::vector<float> image(static_cast<size_t>(g.channels * g.height * g.width), NAN);
    cpu().col2im(c.data(), g, image.data());
    ASSERT_EQ(bits(image), bits(naive_col2im(c, g))) << describe(g);
  }
}

TEST(Im2col, RejectsInvalidGeometry) {
  std::vector<float> buffer(64);
  EXPECT_THROW(cpu().im2col(buffer.data(), geometry(1, 2, 2, 3, 3, 1, 1, 0, 0), buffer.data()),
               Error);  // kernel larger than the padded image
  EXPECT_THROW(cpu().im2col(buffer.data(), geometry(1, 4, 4, 2, 2, 0, 1, 0, 0), buffer.data()),
               Error);  // zero stride
  EXPECT_THROW(cpu().col2im(buffer.data(), geometry(1, 4, 4, 2, 2, 1, 1, -1, 0), buffer.data()),
               Error);  // negative padding
}

}  // namespace
}  // namespace lockstep::backend
