// Data sources as programs name them (--data): a training and a test split from
// "fashion-mnist[:DIR]", "synthetic:N", "npy:X.npy,Y.npy" or the path of a folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "lockstep/data/dataset.h"

namespace lockstep::data {

// Where Debian's dataset-fashion-mnist package puts the gzip IDX files.
inline constexpr const char* kDefaultFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// The shape and class count of synthetic:N data (Fashion-MNIST's, so every model fits).
inline constexpr int64_t kSyntheticClasses = 10;

struct TrainTestData {
  Dataset train, test;
};

// The splits named by `data`:
//   "fashion-mnist"           the IDX files in `fashion_mnist_dir`
//   "fashion-mnist:DIR"       the IDX files in DIR
//   "synthetic:N"             N images [1, 28, 28] of 10 classes drawn from `seed`
//   "npy:X.npy,Y.npy"         inputs and labels from two .npy files
//   PATH                      a folder holding either the Fashion-MNIST IDX files
//                             (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
//                             t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) or
//                             x_train.npy, y_train.npy, x_test.npy, y_test.npy
// Sources without a test split of their own (synthetic, npy) hold out their last sixth.
// Throws lockstep::Error naming the source and every file looked for when something is
// missing, and the accepted forms when the text is none of them.
TrainTestData load_train_test(
    const std::string& data,
    const std::filesystem::path& fashion_mnist_dir = kDefaultFashionMnistDir, uint64_t seed = 1);

}  // namespace lockstep::data
