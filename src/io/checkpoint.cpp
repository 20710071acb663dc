// Checkpoints: parameters and optimizer state as safetensors tensors, everything else as
// string metadata with a checksum of it all; reading checks every key and the checksum,
// restoring checks every name and shape first.
#include "lockstep/io/checkpoint.h"

#include <charconv>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "io/checkpoint_checksum.h"
#include "lockstep/base/error.h"
#include "lockstep/io/model_weights.h"
#include "lockstep/io/safetensors.h"

namespace lockstep::io {

namespace {

using Metadata = std::map<std::string, std::string>;

const std::string& required_key(const Metadata& metadata, const std::string& key,
                                const std::filesystem::path& path) {
  const auto found = metadata.find(key);
  LOCKSTEP_CHECK(found != metadata.end(),
                 "checkpoint '" << path.string() << "': metadata key '" << key << "' is missing");
  return found->second;
}

// Parses a whole string as a decimal integer of type T.
template <typename T>
T parse_integer(const Metadata& metadata, const std::string& key,
                const std::filesystem::path& path) {
  const std::string& text = required_key(metadata, key, path);
  T value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  LOCKSTEP_CHECK(error == std::errc() && end == text.data() + text.size() && value >= 0,
                 "checkpoint '" << path.string() << "': metadata key '" << key << "' is '" << text
                                << "', expected a non-negative integer");
  return value;
}

nlohmann::json parse_json_object(const Metadata& metadata, const std::string& key,
                                 const std::filesystem::path& path) {
  const std::string& text = required_key(metadata, key, path);
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    LOCKSTEP_THROW("checkpoint '" << path.string() << "': metadata key '" << key
                                  << "' is not valid JSON: " << e.what());
  }
  LOCKSTEP_CHECK(value.is_object(), "checkpoint '" << path.string() << "': metadata key '" << key
                                                   << "' is a JSON " << value.type_name()
                                                   << ", expected an object");
  return value;
}

// An integer field of the "trainer_state" object, within [low, high].
int64_t trainer_field(const nlohmann::json& object, const char* field, int64_t low, int64_t high,
                      const std::filesystem::path& path) {
  LOCKSTEP_CHECK(object.contains(field), "checkpoint '" << path.string()
                                                        << "': trainer_state has no field '"
                                                        << field << "'");
  const nlohmann::json& value = object[field];
  // Unsigned values above int64's range are refused before get<int64_t>() could wrap them.
  const bool fits =
      value.is_number_integer() &&
      !(value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(high)) &&
      value.get<int64_t>() >= low && value.get<int64_t>() <= high;
  LOCKSTEP_CHECK(fits, "checkpoint '" << path.string() << "': trainer_state field '" << field
                                      << "' is " << value.dump() << ", expected an integer in ["
                                      << low << ", " << high << "]");
  return value.get<int64_t>();
}

TrainerState parse_trainer_state(const Metadata& metadata, const std::filesystem::path& path) {
  TrainerState state;
  state.step = parse_integer<int64_t>(metadata, "step", path);
  state.epoch = parse_integer<int64_t>(metadata, "epoch", path);
  state.seed = parse_integer<uint64_t>(metadata, "seed", path);
  const nlohmann::json trainer = parse_json_object(metadata, "trainer_state", path);
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  state.position_in_epoch = trainer_field(trainer, "position_in_epoch", 0, kMax, path);
  state.world_size = static_cast<int>(
      trainer_field(trainer, "world_size", 1, std::numeric_limits<int>::max(), path));
  if (trainer.contains("extra")) state.extra = trainer["extra"];
  return state;
}

// "at /layers/1/units (checkpoint 256, model 128)" for the first few differences.
std::string describe_spec_difference(const nlohmann::json& stored, const nlohmann::json& current) {
  const nlohmann::json patch = nlohmann::json::diff(stored, current);
  std::string text = "the model spec differs from the checkpoint's";
  size_t shown = 0;
  for (const nlohmann::json& op : patch) {
    if (shown++ == 3) return text + "; ...";
    const std::string where = op["path"].get<std::string>();
    const nlohmann::json::json_pointer pointer(where);
    const std::string kind = op["op"].get<std::string>();
    text += shown == 1 ? " at " : "; at ";
    text += where.empty() ? "/" : where;
    if (kind == "replace") {
      text += " (checkpoint " + stored.at(pointer).dump() + ", model " +
              current.at(pointer).dump() + ")";
    } else {
      text += kind == "add" ? " (only in the model)" : " (only in the checkpoint)";
    }
  }
  return text;
}

// "'a' [2], 'b' [3] and 4 more": keeps messages readable for models with many parameters.
std::string listing(const std::vector<std::string>& items) {
  constexpr size_t kShown = 6;
  std::string text;
  for (size_t i = 0; i < items.size() && i < kShown; ++i) text += (i ? ", " : "") + items[i];
  if (items.size() > kShown) text += " and " + std::to_string(items.size() - kShown) + " more";
  return text;
}

// Every way the checkpoint's parameters (and buffers) do not fit the model's, grouped by kind.
std::vector<std::string> parameter_mismatches(const Checkpoint& checkpoint,
                                              const NamedTensors& model_tensors) {
  std::map<std::string, const Tensor*> stored;
  for (const NamedTensor& named : checkpoint.parameters) stored[named.name] = &named.tensor;
  std::vector<std::string> missing, misshapen, extra;
  for (const NamedTensor& wanted : model_tensors) {
    const auto found = stored.find(wanted.name);
    const std::string model_shape = to_string(wanted.tensor.shape());
    if (found == stored.end()) {
      missing.push_back("'" + wanted.name + "' " + model_shape);
      continue;
    }
    if (found->second->shape() != wanted.tensor.shape()) {
      misshapen.push_back("'" + wanted.name + "' is " + to_string(found->second->shape()) +
                          " in the checkpoint, " + model_shape + " in the model");
    }
    stored.erase(found);
  }
  for (const auto& [name, tensor] : stored) {
    extra.push_back("'" + name + "' " + to_string(tensor->shape()));
  }
  std::vector<std::string> problems;
  if (!missing.empty()) problems.push_back("missing parameters " + listing(missing));
  if (!extra.empty()) problems.push_back("extra parameters " + listing(extra));
  if (!misshapen.empty()) problems.push_back("parameters of another shape: " + listing(misshapen));
  return problems;
}

// A file whose stored checksum disagrees with its contents was changed after it was written.
void check_checksum(const SafetensorsFile& file, const std::filesystem::path& path, bool required) {
  const auto stored = file.metadata.find(detail::kChecksumKey);
  LOCKSTEP_CHECK(stored != file.metadata.end() || !required,
                 "checkpoint '" << path.string() << "': metadata key '" << detail::kChecksumKey
                                << "' is missing (version " << kCheckpointVersion
                                << " files carry one): the file is corrupt");
  if (stored == file.metadata.end()) return;
  const std::string computed = detail::checkpoint_checksum(file.metadata, file.tensors);
  LOCKSTEP_CHECK(stored->second == computed, "checkpoint '" << path.string() << "': checksum is '"
                                                            << stored->second
                                                            << "', the contents give '" << computed
                                                            << "': the file is corrupt");
}

std::string join(const std::vector<std::string>& parts) {
  std::string text;
  for (size_t i = 0; i < parts.size(); ++i) text += (i ? "; " : "") + parts[i];
  return text;
}

}  // namespace

void save_checkpoint(const std::filesystem::path& path, nn::Model& model,
                     const optim::Optimizer& optimizer, const TrainerState& state,
                     const std::function<void()>& before_rename) {
  const std::string prefix = kOptimizerStatePrefix;
  NamedTensors tensors;
  for (const NamedTensor& named : model_tensors(model)) {
    LOCKSTEP_CHECK(!named.name.starts_with(prefix),
                   "checkpoint '" << path.string() << "': parameter name '" << named.name
                                  << "' clashes with the optimizer state prefix '" << prefix
                                  << "'");
    tensors.push_back(named);
  }
  for (const NamedTensor& named : optimizer.state()) {
    tensors.push_back({prefix + named.name, named.tensor});
  }
  const nlohmann::json trainer_state = {{"position_in_epoch", state.position_in_epoch},
                                        {"world_size", state.world_size},
                                        {"extra", state.extra}};
  Metadata metadata = {
      {"format", kCheckpointFormat},
      {"version", std::to_string(kCheckpointVersion)},
      {"model_spec", model.spec().dump()},
      {"optimizer", optimizer.name()},
      {"optimizer_hyperparameters", optimizer.hyperparameters().dump()},
      {"step", std::to_string(state.step)},
      {"epoch", std::to_string(state.epoch)},
      {"seed", std::to_string(state.seed)},
      {"trainer_state", trainer_state.dump()},
  };
  metadata[detail::kChecksumKey] = detail::checkpoint_checksum(metadata, tensors);
  write_safetensors(path, tensors, metadata, before_rename);
}

Checkpoint read_checkpoint(const std::filesystem::path& path) {
  SafetensorsFile file = read_safetensors(path);
  const Metadata& metadata = file.metadata;
  const std::string& format = required_key(metadata, "format", path);
  LOCKSTEP_CHECK(format == kCheckpointFormat, "checkpoint '" << path.string() << "': format is '"
                                                             << format << "', expected '"
                                                             << kCheckpointFormat << "'");
  const std::string& version = required_key(metadata, "version", path);
  int version_number = 0;
  for (int v = kOldestCheckpointVersion; v <= kCheckpointVersion; ++v) {
    if (version == std::to_string(v)) version_number = v;
  }
  LOCKSTEP_CHECK(version_number != 0, "checkpoint '" << path.string() << "': version is '"
                                                     << version << "', this build reads versions "
                                                     << kOldestCheckpointVersion << " to "
                                                     << kCheckpointVersion);
  Checkpoint checkpoint;
  checkpoint.path = path;
  checkpoint.model_spec = parse_json_object(metadata, "model_spec", path);
  checkpoint.optimizer_name = required_key(metadata, "optimizer", path);
  checkpoint.optimizer_hyperparameters =
      parse_json_object(metadata, "optimizer_hyperparameters", path);
  checkpoint.state = parse_trainer_state(metadata, path);
  // Last: a malformed entry is named above; a well-formed but altered one is caught here.
  check_checksum(file, path, version_number >= 2);
  const std::string prefix = kOptimizerStatePrefix;
  for (NamedTensor& named : file.tensors) {
    if (named.name.starts_with(prefix)) {
      checkpoint.optimizer_state.push_back({named.name.substr(prefix.size()), named.tensor});
    } else {
      checkpoint.parameters.push_back(std::move(named));
    }
  }
  return checkpoint;
}

void restore_checkpoint(const Checkpoint& checkpoint, nn::Model& model,
                        optim::Optimizer& optimizer) {
  const std::string source = checkpoint.path.string();
  const std::vector<nn::Parameter*> parameters = model.parameters();
  NamedTensors targets = model_tensors(model);
  std::vector<std::string> problems = parameter_mismatches(checkpoint, targets);
  const nlohmann::json spec = model.spec();
  if (checkpoint.model_spec != spec) {
    problems.push_back(describe_spec_difference(checkpoint.model_spec, spec));
  }
  LOCKSTEP_CHECK(problems.empty(), "checkpoint '" << source << "' does not fit model '"
                                                  << model.name() << "': " << join(problems));
  LOCKSTEP_CHECK(checkpoint.optimizer_name == optimizer.name(),
                 "checkpoint '" << source << "' holds the state of optimizer '"
                                << checkpoint.optimizer_name << "', the run uses '"
                                << optimizer.name() << "'");
  try {
    optimizer.load_state(checkpoint.optimizer_state, parameters);
  } catch (const Error& e) {
    LOCKSTEP_THROW("checkpoint '" << source
                                  << "': the optimizer state does not fit: " << e.message());
  }
  std::map<std::string, const Tensor*> stored;
  for (const NamedTensor& named : checkpoint.parameters) stored[named.name] = &named.tensor;
  for (NamedTensor& target : targets) target.tensor.copy_from(*stored.at(target.name));
}

LoadedRun load_run(const std::filesystem::path& path) {
  const Checkpoint checkpoint = read_checkpoint(path);
  LoadedRun run;
  try {
    run.model = nn::build_model(checkpoint.model_spec, checkpoint.state.seed);
    run.optimizer =
        optim::make_optimizer(checkpoint.optimizer_name, checkpoint.optimizer_hyperparameters);
  } catch (const Error& e) {
    LOCKSTEP_THROW("checkpoint '" << path.string()
                                  << "': cannot rebuild the run it describes: " << e.message());
  }
  restore_checkpoint(checkpoint, *run.model, *run.optimizer);
  run.state = checkpoint.state;
  return run;
}

}  // namespace lockstep::io
