// save_weights: the parameters of a model and its spec, nothing about training.
#include "lockstep/io/model_weights.h"

#include <map>
#include <string>

#include "lockstep/io/safetensors.h"

namespace lockstep::io {

void save_weights(const std::filesystem::path& path, nn::Model& model) {
  NamedTensors tensors;
  for (nn::Parameter* p : model.parameters()) tensors.push_back({p->name, p->value});
  const std::map<std::string, std::string> metadata = {{"format", "lockstep-weights"},
                                                       {"model_spec", model.spec().dump()}};
  write_safetensors(path, tensors, metadata);
}

}  // namespace lockstep::io
