// Data sources named on the command line: the string forms, folder detection (IDX or .npy
// files), and the held-out test split of sources that have none.
#include "lockstep/data/data_source.h"

#include <algorithm>
#include <array>
#include <string_view>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/data/data_spec.h"
#include "lockstep/data/idx_dataset.h"
#include "lockstep/data/npy.h"
#include "lockstep/data/synthetic.h"

namespace lockstep::data {

namespace fs = std::filesystem;

namespace {

constexpr const char* kForms =
    "expected fashion-mnist, fashion-mnist:DIR, synthetic:N, npy:X.npy,Y.npy or a folder of "
    "IDX or .npy files";

constexpr std::array<const char*, 4> kIdxNames = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte"};
constexpr std::array<const char*, 4> kNpyNames = {"x_train.npy", "y_train.npy", "x_test.npy",
                                                  "y_test.npy"};

bool path_exists(const fs::path& path) {
  std::error_code error;
  return fs::exists(path, error);
}

bool is_existing_folder(const fs::path& path) {
  std::error_code error;
  return fs::is_directory(path, error);
}

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (size_t i = 0; i < items.size(); ++i) text += (i ? ", " : "") + items[i];
  return text;
}

// The IDX files of `dir` that are missing, as "name[.gz]".
std::vector<std::string> missing_idx_files(const fs::path& dir) {
  std::vector<std::string> missing;
  for (const char* name : kIdxNames) {
    if (!path_exists(dir / name) && !path_exists(dir / (std::string(name) + ".gz"))) {
      missing.push_back(std::string(name) + "[.gz]");
    }
  }
  return missing;
}

std::vector<std::string> missing_npy_files(const fs::path& dir) {
  std::vector<std::string> missing;
  for (const char* name : kNpyNames) {
    if (!path_exists(dir / name)) missing.push_back(name);
  }
  return missing;
}

TrainTestData load_idx_folder(const fs::path& dir) {
  return {load_fashion_mnist(dir, "train"), load_fashion_mnist(dir, "test")};
}

TrainTestData load_fashion_mnist_folder(const fs::path& dir, std::string_view source) {
  LOCKSTEP_CHECK(is_existing_folder(dir),
                 "data source '" << std::string(source) << "': the Fashion-MNIST "
                                 << "folder '" << dir.string()
                                 << (path_exists(dir) ? "' is not a folder" : "' does not exist"));
  const std::vector<std::string> missing = missing_idx_files(dir);
  LOCKSTEP_CHECK(missing.empty(), "data source '" << std::string(source) << "': folder '"
                                                  << dir.string() << "' lacks " << join(missing));
  return load_idx_folder(dir);
}

TrainTestData load_npy_folder(const fs::path& dir) {
  return {load_npy_dataset(dir / kNpyNames[0], dir / kNpyNames[1]),
          load_npy_dataset(dir / kNpyNames[2], dir / kNpyNames[3])};
}

// A folder given as a bare path: whichever complete set of files it holds.
TrainTestData load_folder(const fs::path& dir, std::string_view source) {
  LOCKSTEP_CHECK(path_exists(dir), "data source '" << std::string(source)
                                                   << "' is not understood and "
                                                   << "is no existing folder; " << kForms);
  LOCKSTEP_CHECK(is_existing_folder(dir),
                 "data source '" << std::string(source) << "' is a file, not a folder; " << kForms);
  const std::vector<std::string> idx_missing = missing_idx_files(dir);
  if (idx_missing.empty()) return load_idx_folder(dir);
  const std::vector<std::string> npy_missing = missing_npy_files(dir);
  if (npy_missing.empty()) return load_npy_folder(dir);
  // Name what the folder lacks of the set it seems meant to hold (the one with fewer gaps).
  const bool npy_closer = npy_missing.size() < idx_missing.size();
  LOCKSTEP_THROW("data source '" << std::string(source) << "': folder '" << dir.string()
                                 << "' holds neither the IDX files train-images-idx3-ubyte[.gz], "
                                    "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], "
                                    "t10k-labels-idx1-ubyte[.gz] nor the .npy files x_train.npy, "
                                    "y_train.npy, x_test.npy, y_test.npy; missing: "
                                 << join(npy_closer ? npy_missing : idx_missing));
}

// Holds out the last sixth (at least one sample) as the test split.
TrainTestData hold_out(const Dataset& all, std::string_view source) {
  LOCKSTEP_CHECK(all.size() >= 2, "data source '" << std::string(source) << "' has " << all.size()
                                                  << " samples, expected at least 2");
  auto [train, test] = split_dataset(all, all.size() - std::max<int64_t>(1, all.size() / 6));
  return {train, test};
}

bool is_named_form(std::string_view text) {
  return text == "fashion-mnist" || text.starts_with("fashion-mnist:") ||
         text.starts_with("synthetic:") || text.starts_with("npy:");
}

}  // namespace

TrainTestData load_train_test(const std::string& data, const fs::path& fashion_mnist_dir,
                              uint64_t seed) {
  LOCKSTEP_CHECK(!data.empty(), "data source is empty; " << kForms);
  if (!is_named_form(data)) return load_folder(data, data);
  const DataSpec spec = parse_data_spec(data);
  switch (spec.kind) {
    case DataSpec::Kind::kFashionMnist:
      return load_fashion_mnist_folder(spec.dir.empty() ? fashion_mnist_dir : spec.dir, data);
    case DataSpec::Kind::kSynthetic:
      return hold_out(make_synthetic(spec.num_samples, {1, 28, 28}, kSyntheticClasses, seed), data);
    case DataSpec::Kind::kNpy:
      for (const fs::path& path : {spec.inputs_path, spec.labels_path}) {
        LOCKSTEP_CHECK(path_exists(path), "data source '" << data << "': file '" << path.string()
                                                          << "' does not exist");
      }
      return hold_out(load_npy_dataset(spec.inputs_path, spec.labels_path), data);
  }
  LOCKSTEP_THROW("data source '" << data << "' is not understood; " << kForms);
}

}  // namespace lockstep::data
