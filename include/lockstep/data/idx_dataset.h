// Datasets stored as a pair of IDX files (images and labels), Fashion-MNIST among them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "lockstep/base/shape.h"
#include "lockstep/data/dataset.h"
#include "lockstep/data/idx.h"

namespace lockstep::data {

struct IdxDatasetOptions {
  // Multiplies every image value (1/255 maps uint8 pixels onto [0, 1]).
  float input_scale = 1.0f / 255.0f;
  // When > 0, every label must be below it.
  int64_t num_classes = 0;
  // When set, the images must have this element type ...
  std::optional<IdxType> input_type;
  // ... and, when not empty, these dimensions after the sample dimension ([28, 28]).
  Shape input_dims;
};

// Images [N, ...] and integer labels [N] from two IDX files (plain or gzip). Images of three
// dimensions [N, H, W] become [N, 1, H, W] (NCHW with one channel); labels become float class
// ids. Throws lockstep::Error when the counts differ, labels are not integers of rank 1,
// a label is negative or not below num_classes, or the images break input_type/input_dims.
Dataset load_idx_dataset(const std::filesystem::path& images_path,
                         const std::filesystem::path& labels_path,
                         const IdxDatasetOptions& options = {});

// Fashion-MNIST from `dir` (train-images-idx3-ubyte.gz etc., or the same names without .gz):
// split "train" (60000 samples) or "test" (10000). Images [N, 1, 28, 28] in [0, 1], labels
// [N] with class ids 0..9.
Dataset load_fashion_mnist(const std::filesystem::path& dir, const std::string& split);

}  // namespace lockstep::data
