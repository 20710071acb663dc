// make_optimizer: the name -> optimizer table used to rebuild an optimizer from a
// checkpoint or a command line, and the list of its names that error messages quote.
#include "lockstep/base/error.h"
#include "lockstep/optim/adam.h"
#include "lockstep/optim/optimizer.h"
#include "lockstep/optim/rmsprop.h"
#include "lockstep/optim/sgd.h"

namespace lockstep::optim {

namespace {

using Factory = std::unique_ptr<Optimizer> (*)(const nlohmann::json&);

struct Entry {
  const char* name;
  Factory make;
};

template <typename Rule>
std::unique_ptr<Optimizer> make(const nlohmann::json& hyperparameters) {
  return Rule::from_hyperparameters(hyperparameters);
}

// The one table of optimizers: make_optimizer, optimizer_names and every message listing the
// names read it.
constexpr Entry kOptimizers[] = {
    {"sgd", make<Sgd>}, {"rmsprop", make<Rmsprop>}, {"adam", make<Adam>}, {"adamw", make<AdamW>}};

}  // namespace

const std::vector<std::string>& optimizer_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all;
    for (const Entry& entry : kOptimizers) all.emplace_back(entry.name);
    return all;
  }();
  return names;
}

std::string optimizer_names_text() {
  const std::vector<std::string>& names = optimizer_names();
  std::string text;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) text += i + 1 == names.size() ? " or " : ", ";
    text += names[i];
  }
  return text;
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name,
                                          const nlohmann::json& hyperparameters) {
  for (const Entry& entry : kOptimizers) {
    if (name == entry.name) return entry.make(hyperparameters);
  }
  LOCKSTEP_THROW("make_optimizer: unknown optimizer \"" << name << "\"; expected "
                                                        << optimizer_names_text());
}

}  // namespace lockstep::optim
