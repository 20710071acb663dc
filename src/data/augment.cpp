// Augmentation: the option text, the Philox draw of each sample, and the shift and flip of one
// image in place (one plane at a time through a scratch copy).
#include "lockstep/data/augment.h"

#include <algorithm>
#include <sstream>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/base/philox.h"

namespace lockstep::data {

namespace {

// Keeps augmentation streams apart from the shuffle and dropout that share the run seed.
constexpr uint32_t kAugmentTag = 0x4155474Du;  // "AUGM"

constexpr const char* kAccepted = "a comma list of crop and flip (crop,flip), or none";

// A uniform integer in [0, bound) from a 32-bit word by multiply and shift (Lemire): its bias,
// below bound / 2^32, is far beneath anything training could see, and it needs one word.
int64_t below(uint32_t word, uint32_t bound) {
  return static_cast<int64_t>((static_cast<uint64_t>(word) * bound) >> 32);
}

// The shift and flip of augment_image, through a scratch plane that a batch reuses from image
// to image.
void transform_image(const AugmentDraw& draw, int64_t channels, int64_t height, int64_t width,
                     float* image, std::vector<float>& plane) {
  if (draw == AugmentDraw{}) return;
  plane.resize(static_cast<size_t>(height * width));
  for (int64_t c = 0; c < channels; ++c) {
    float* out = image + c * height * width;
    std::copy(out, out + height * width, plane.begin());
    for (int64_t y = 0; y < height; ++y) {
      const int64_t from_y = y - draw.dy;
      for (int64_t x = 0; x < width; ++x) {
        // The flip mirrors the shifted image: column x shows shifted column W - 1 - x.
        const int64_t from_x = (draw.flip ? width - 1 - x : x) - draw.dx;
        const bool inside = from_y >= 0 && from_y < height && from_x >= 0 && from_x < width;
        out[y * width + x] = inside ? plane[static_cast<size_t>(from_y * width + from_x)] : 0.0f;
      }
    }
  }
}

}  // namespace

Augmentation parse_augmentation(const std::string& text, const std::string& what) {
  Augmentation a;
  if (text.empty() || text == "none") return a;
  std::istringstream names(text);
  std::string name;
  while (std::getline(names, name, ',')) {
    bool* slot = name == "crop" ? &a.crop : name == "flip" ? &a.flip : nullptr;
    LOCKSTEP_CHECK(slot != nullptr, what << ": expected " << kAccepted << ", found '" << name
                                         << "' in '" << text << "'");
    LOCKSTEP_CHECK(!*slot, what << ": expected " << kAccepted << ", found '" << name
                                << "' twice in '" << text << "'");
    *slot = true;
  }
  // getline drops a trailing empty name: "crop," would otherwise pass as "crop".
  LOCKSTEP_CHECK(text.back() != ',',
                 what << ": expected " << kAccepted << ", found an empty name in '" << text << "'");
  return a;
}

std::string augmentation_text(const Augmentation& a) {
  if (a.crop && a.flip) return "crop,flip";
  if (a.crop) return "crop";
  if (a.flip) return "flip";
  return "none";
}

AugmentDraw augmentation_draw(const Augmentation& a, uint64_t seed, int64_t epoch, int64_t sample) {
  LOCKSTEP_CHECK(epoch >= 0 && sample >= 0,
                 "augmentation_draw: expected epoch and sample >= 0, found epoch "
                     << epoch << ", sample " << sample);
  AugmentDraw draw;
  if (!a.enabled()) return draw;
  const auto e = static_cast<uint64_t>(epoch), s = static_cast<uint64_t>(sample);
  const philox::Key key{
      {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32) ^ kAugmentTag}};
  const philox::Counter counter{{static_cast<uint32_t>(s), static_cast<uint32_t>(s >> 32),
                                 static_cast<uint32_t>(e), static_cast<uint32_t>(e >> 32)}};
  const philox::Counter words = philox::philox4x32_10(counter, key);
  constexpr auto kShifts = static_cast<uint32_t>(2 * kCropPadding + 1);
  if (a.crop) {
    draw.dx = below(words.w[0], kShifts) - kCropPadding;
    draw.dy = below(words.w[1], kShifts) - kCropPadding;
  }
  if (a.flip) draw.flip = (words.w[2] >> 31) != 0;
  return draw;
}

void check_augmentable(const Augmentation& a, const Shape& sample_shape) {
  if (!a.enabled()) return;
  LOCKSTEP_CHECK(sample_shape.size() == 3 && std::all_of(sample_shape.begin(), sample_shape.end(),
                                                         [](int64_t n) { return n >= 1; }),
                 "augmentation " << augmentation_text(a) << ": expected images [C, H, W], found "
                                 << "samples of shape " << to_string(sample_shape));
}

void augment_image(const AugmentDraw& draw, int64_t channels, int64_t height, int64_t width,
                   float* image) {
  std::vector<float> plane;
  transform_image(draw, channels, height, width, image, plane);
}

void augment_rows(const Augmentation& a, Tensor& images, std::span<const int64_t> samples,
                  uint64_t seed, int64_t epoch) {
  if (!a.enabled()) return;
  LOCKSTEP_CHECK(images.defined() && images.device().is_cpu() && images.dim() == 4,
                 "augmentation " << augmentation_text(a)
                                 << ": expected host images [n, C, H, W], found shape "
                                 << to_string(images.shape()));
  LOCKSTEP_CHECK(images.size(0) == static_cast<int64_t>(samples.size()),
                 "augmentation " << augmentation_text(a) << ": " << images.size(0) << " images but "
                                 << samples.size() << " sample ids");
  const int64_t channels = images.size(1), height = images.size(2), width = images.size(3);
  const int64_t elements = channels * height * width;
  float* row = images.data();
  std::vector<float> plane;
  for (const int64_t sample : samples) {
    transform_image(augmentation_draw(a, seed, epoch, sample), channels, height, width, row, plane);
    row += elements;
  }
}

}  // namespace lockstep::data
