// Data source specifications from the command line, and .npy pair datasets.
#include "lockstep/data/data_spec.h"

#include <limits>
#include <string>

#include "lockstep/base/error.h"
#include "lockstep/data/npy.h"

namespace lockstep::data {

namespace {

constexpr const char* kForms =
    "expected synthetic:N, fashion-mnist, fashion-mnist:DIR or npy:INPUTS.npy,LABELS.npy";

int64_t parse_count(std::string_view digits, std::string_view text) {
  LOCKSTEP_CHECK(
      !digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos,
      "data source '" << std::string(text) << "': N must be a positive decimal integer; "
                      << kForms);
  int64_t value = 0;
  for (char c : digits) {
    LOCKSTEP_CHECK(value <= (std::numeric_limits<int64_t>::max() - (c - '0')) / 10,
                   "data source '" << std::string(text) << "': N does not fit in int64");
    value = value * 10 + (c - '0');
  }
  LOCKSTEP_CHECK(value >= 1, "data source '" << std::string(text) << "': N must be at least 1");
  return value;
}

}  // namespace

DataSpec parse_data_spec(std::string_view text) {
  DataSpec spec;
  const size_t colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  const std::string_view rest = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  if (kind == "synthetic" && colon != std::string_view::npos) {
    spec.kind = DataSpec::Kind::kSynthetic;
    spec.num_samples = parse_count(rest, text);
  } else if (kind == "fashion-mnist") {
    spec.kind = DataSpec::Kind::kFashionMnist;
    LOCKSTEP_CHECK(colon == std::string_view::npos || !rest.empty(),
                   "data source '" << std::string(text) << "': the folder is empty; " << kForms);
    spec.dir = std::string(rest);
  } else if (kind == "npy" && colon != std::string_view::npos) {
    spec.kind = DataSpec::Kind::kNpy;
    const size_t comma = rest.find(',');
    LOCKSTEP_CHECK(comma != std::string_view::npos && comma > 0 && comma + 1 < rest.size() &&
                       rest.find(',', comma + 1) == std::string_view::npos,
                   "data source '" << std::string(text) << "': expected two paths separated by "
                                   << "one comma; " << kForms);
    spec.inputs_path = std::string(rest.substr(0, comma));
    spec.labels_path = std::string(rest.substr(comma + 1));
  } else {
    LOCKSTEP_THROW("data source '" << std::string(text) << "' is not understood; " << kForms);
  }
  return spec;
}

Dataset load_npy_dataset(const std::filesystem::path& inputs_path,
                         const std::filesystem::path& labels_path) {
  Tensor inputs = load_npy_tensor(inputs_path);
  Tensor labels = load_npy_tensor(labels_path);
  LOCKSTEP_CHECK(inputs.dim() >= 1 && labels.dim() >= 1 && labels.dim() <= 2,
                 "npy dataset: expected inputs [N, ...] and labels [N] or [N, k], found "
                     << to_string(inputs.shape()) << " in '" << inputs_path.string() << "' and "
                     << to_string(labels.shape()) << " in '" << labels_path.string() << "'");
  LOCKSTEP_CHECK(inputs.size(0) == labels.size(0),
                 "npy dataset: inputs '" << inputs_path.string() << "' hold " << inputs.size(0)
                                         << " samples, labels '" << labels_path.string()
                                         << "' hold " << labels.size(0));
  return Dataset(inputs, labels);
}

}  // namespace lockstep::data
