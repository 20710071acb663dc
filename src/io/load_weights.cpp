// Weights-only restore: checks the stored spec and every parameter's name and shape before
// copying anything, so a checkpoint that does not fit leaves the model as it was.
#include "lockstep/io/load_weights.h"

#include <map>
#include <string>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/io/model_weights.h"

namespace lockstep::io {

namespace {

// The first few ways `checkpoint`'s parameters (and buffers) differ from the model's.
std::string parameter_problems(const Checkpoint& checkpoint, const NamedTensors& model_tensors) {
  std::map<std::string, const Tensor*> stored;
  for (const NamedTensor& named : checkpoint.parameters) stored[named.name] = &named.tensor;
  std::vector<std::string> problems;
  for (const NamedTensor& wanted : model_tensors) {
    const auto found = stored.find(wanted.name);
    if (found == stored.end()) {
      problems.push_back("parameter '" + wanted.name + "' " + to_string(wanted.tensor.shape()) +
                         " is missing");
      continue;
    }
    if (found->second->shape() != wanted.tensor.shape()) {
      problems.push_back("parameter '" + wanted.name + "' is " + to_string(found->second->shape()) +
                         ", the model expects " + to_string(wanted.tensor.shape()));
    }
    stored.erase(found);
  }
  for (const auto& [name, tensor] : stored) {
    problems.push_back("extra parameter '" + name + "' " + to_string(tensor->shape()));
  }
  constexpr size_t kShown = 4;
  std::string text;
  for (size_t i = 0; i < problems.size() && i < kShown; ++i) text += (i ? "; " : "") + problems[i];
  if (problems.size() > kShown)
    text += "; and " + std::to_string(problems.size() - kShown) + " more";
  return text;
}

}  // namespace

void load_weights(const Checkpoint& checkpoint, nn::Model& model) {
  const std::string source = checkpoint.path.string();
  LOCKSTEP_CHECK(checkpoint.model_spec == model.spec(),
                 "checkpoint '" << source << "' was saved from model '"
                                << checkpoint.model_spec.value("name", std::string("?"))
                                << "' with another spec than model '" << model.name() << "'");
  NamedTensors targets = model_tensors(model);
  const std::string problems = parameter_problems(checkpoint, targets);
  LOCKSTEP_CHECK(problems.empty(), "checkpoint '" << source << "' does not fit model '"
                                                  << model.name() << "': " << problems);
  std::map<std::string, const Tensor*> stored;
  for (const NamedTensor& named : checkpoint.parameters) stored[named.name] = &named.tensor;
  for (NamedTensor& target : targets) target.tensor.copy_from(*stored.at(target.name));
}

std::unique_ptr<nn::Model> load_model(const Checkpoint& checkpoint) {
  std::unique_ptr<nn::Model> model;
  try {
    model = nn::build_model(checkpoint.model_spec, checkpoint.state.seed);
  } catch (const Error& e) {
    LOCKSTEP_THROW("checkpoint '" << checkpoint.path.string()
                                  << "': cannot rebuild its model: " << e.message());
  }
  load_weights(checkpoint, *model);
  return model;
}

}  // namespace lockstep::io
