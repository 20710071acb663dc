// The command-line form of a data source: "synthetic:N", "fashion-mnist[:DIR]" or
// "npy:INPUTS.npy,LABELS.npy", and the loader of a pair of .npy files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "lockstep/data/dataset.h"

namespace lockstep::data {

struct DataSpec {
  enum class Kind { kSynthetic, kFashionMnist, kNpy };
  Kind kind = Kind::kSynthetic;
  int64_t num_samples = 0;            // synthetic: N
  std::filesystem::path dir;          // fashion-mnist: the folder (empty: the caller's default)
  std::filesystem::path inputs_path;  // npy
  std::filesystem::path labels_path;  // npy
};

// Parses the forms above; throws lockstep::Error quoting the text and the accepted forms.
// N is a decimal integer of at least 1 with no sign.
DataSpec parse_data_spec(std::string_view text);

// Inputs [N, ...] and labels [N] or [N, k] from two .npy files of any supported dtype,
// converted to float; throws lockstep::Error naming both files when the counts differ.
Dataset load_npy_dataset(const std::filesystem::path& inputs_path,
                         const std::filesystem::path& labels_path);

}  // namespace lockstep::data
