// save_weights: the parameters and buffers of a model and its spec, nothing about training.
#include "lockstep/io/model_weights.h"

#include <map>
#include <string>

#include "lockstep/io/safetensors.h"

namespace lockstep::io {

NamedTensors model_tensors(nn::Model& model) {
  NamedTensors tensors;
  for (nn::Parameter* p : model.parameters()) tensors.push_back({p->name, p->value});
  for (nn::Buffer* b : model.buffers()) tensors.push_back({b->name, b->value});
  return tensors;
}

void save_weights(const std::filesystem::path& path, nn::Model& model) {
  const NamedTensors tensors = model_tensors(model);
  const std::map<std::string, std::string> metadata = {{"format", "lockstep-weights"},
                                                       {"model_spec", model.spec().dump()}};
  write_safetensors(path, tensors, metadata);
}

}  // namespace lockstep::io
