// IDX datasets: an images file and a labels file, checked against each other.
#include "lockstep/data/idx_dataset.h"

#include "lockstep/base/error.h"

namespace lockstep::data {

namespace fs = std::filesystem;

namespace {

bool is_integer_type(IdxType type) {
  return type == IdxType::kUint8 || type == IdxType::kInt8 || type == IdxType::kInt16 ||
         type == IdxType::kInt32;
}

// Labels [N] as float class ids, each checked to lie in [0, num_classes).
Tensor labels_to_tensor(const IdxArray& labels, const fs::path& path, int64_t num_classes) {
  LOCKSTEP_CHECK(labels.dims.size() == 1, "IDX labels '" << path.string()
                                                         << "': expected one dimension [N], found "
                                                         << to_string(labels.dims));
  LOCKSTEP_CHECK(is_integer_type(labels.type),
                 "IDX labels '" << path.string() << "': expected integer labels, found "
                                << idx_type_name(labels.type));
  for (int64_t i = 0; i < labels.numel(); ++i) {
    const double label = labels.value(i);
    LOCKSTEP_CHECK(label >= 0 && (num_classes <= 0 || label < static_cast<double>(num_classes)),
                   "IDX labels '" << path.string() << "': label " << i << " is " << label
                                  << ", expected 0 to "
                                  << (num_classes > 0 ? std::to_string(num_classes - 1)
                                                      : std::string("2^31-1")));
  }
  return idx_to_tensor(labels);
}

void check_images(const IdxArray& images, const fs::path& path, const IdxDatasetOptions& options) {
  LOCKSTEP_CHECK(!options.input_type || images.type == *options.input_type,
                 "IDX images '" << path.string() << "': expected elements of type "
                                << idx_type_name(*options.input_type) << ", found "
                                << idx_type_name(images.type));
  const Shape sample_dims(images.dims.begin() + 1, images.dims.end());
  LOCKSTEP_CHECK(options.input_dims.empty() || sample_dims == options.input_dims,
                 "IDX images '" << path.string() << "': expected images of "
                                << to_string(options.input_dims) << ", found "
                                << to_string(sample_dims) << " (dimensions "
                                << to_string(images.dims) << ")");
}

// Picks `name`.gz if present, else the uncompressed `name`.
fs::path find_file(const fs::path& dir, const std::string& name) {
  std::error_code error;
  const fs::path compressed = dir / (name + ".gz");
  if (fs::exists(compressed, error)) return compressed;
  const fs::path plain = dir / name;
  LOCKSTEP_CHECK(fs::exists(plain, error), "Fashion-MNIST: expected " << compressed.string()
                                                                      << " or " << plain.string()
                                                                      << ", found neither");
  return plain;
}

}  // namespace

Dataset load_idx_dataset(const fs::path& images_path, const fs::path& labels_path,
                         const IdxDatasetOptions& options) {
  const IdxArray images = read_idx(images_path);
  check_images(images, images_path, options);
  const IdxArray labels = read_idx(labels_path);
  LOCKSTEP_CHECK(images.dims[0] == labels.dims[0],
                 "IDX dataset: images '" << images_path.string() << "' hold " << images.dims[0]
                                         << " samples, labels '" << labels_path.string()
                                         << "' hold " << labels.dims[0]);
  Tensor label_tensor = labels_to_tensor(labels, labels_path, options.num_classes);
  Tensor inputs = idx_to_tensor(images, options.input_scale);
  if (images.dims.size() == 3) {
    inputs = inputs.reshape({images.dims[0], 1, images.dims[1], images.dims[2]});
  }
  return Dataset(inputs, label_tensor);
}

Dataset load_fashion_mnist(const fs::path& dir, const std::string& split) {
  LOCKSTEP_CHECK(split == "train" || split == "test",
                 "Fashion-MNIST: expected split 'train' or 'test', found '" << split << "'");
  const std::string prefix = split == "train" ? "train" : "t10k";
  const fs::path images = find_file(dir, prefix + "-images-idx3-ubyte");
  const fs::path labels = find_file(dir, prefix + "-labels-idx1-ubyte");
  IdxDatasetOptions options;
  options.num_classes = 10;
  options.input_type = IdxType::kUint8;
  options.input_dims = {28, 28};
  return load_idx_dataset(images, labels, options);
}

}  // namespace lockstep::data
