// Data augmentation of training images, keyed by data: each sample's random shift and flip are
// a pure function of (run seed, epoch, global sample id) through Philox, never of the rank or
// of the row's place in a batch, so N ranks see exactly the rows one process sees.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "lockstep/base/shape.h"
#include "lockstep/tensor/tensor.h"

namespace lockstep::data {

// The pixels a crop pads each side with: shifts are drawn from -kCropPadding..kCropPadding.
inline constexpr int64_t kCropPadding = 2;

// Which transforms a training sample gets (in this order):
//   crop: pad by kCropPadding zeros on each side, then crop back to H x W at a random offset:
//         the image moves by (dx, dy), each uniform in {-2..2}, zeros filling what it uncovers
//   flip: mirror left to right with probability 1/2
struct Augmentation {
  bool crop = false;
  bool flip = false;

  bool enabled() const { return crop || flip; }
  bool operator==(const Augmentation& other) const = default;
};

// "crop", "flip", "crop,flip" (either order, no repeats), or "none" / "" for no augmentation.
// Throws lockstep::Error starting with `what` (the option that gave the text), naming the
// unknown or repeated name and the accepted ones.
Augmentation parse_augmentation(const std::string& text, const std::string& what = "augmentation");
// The canonical text: "none", "crop", "flip" or "crop,flip"; parse_augmentation reads it back.
std::string augmentation_text(const Augmentation& augmentation);

// One sample's draw: the shift (content moves right by dx and down by dy) and the flip.
struct AugmentDraw {
  int64_t dx = 0, dy = 0;
  bool flip = false;
  bool operator==(const AugmentDraw& other) const = default;
};

// The draw of sample `sample` in epoch `epoch` of a run seeded `seed`. The shift and the flip
// come from separate words of one Philox block, so each is the same whether or not the other
// transform is on; a transform that is off draws (0, 0) or no flip.
AugmentDraw augmentation_draw(const Augmentation& augmentation, uint64_t seed, int64_t epoch,
                              int64_t sample);

// Throws lockstep::Error unless samples of `sample_shape` are images [C, H, W] (each at least
// 1), as an enabled augmentation needs. A no-op for a disabled one.
void check_augmentable(const Augmentation& augmentation, const Shape& sample_shape);

// Applies `draw` in place to one image [C, H, W] at `image`: out(c, y, x) = in(c, y - dy, x -
// dx) (0 outside the image), then, if flipped, out(c, y, x) = out(c, y, W - 1 - x).
void augment_image(const AugmentDraw& draw, int64_t channels, int64_t height, int64_t width,
                   float* image);

// Augments every row of `images` (a CPU tensor [n, C, H, W]) in place; row i is global sample
// `samples[i]`. Throws lockstep::Error when the shapes or counts do not fit.
void augment_rows(const Augmentation& augmentation, Tensor& images,
                  std::span<const int64_t> samples, uint64_t seed, int64_t epoch);

}  // namespace lockstep::data
