// make_optimizer: the name -> optimizer table used to rebuild an optimizer from a
// checkpoint or a command line.
#include "lockstep/optim/optimizer.h"

#include "lockstep/core/error.h"
#include "lockstep/optim/adam.h"
#include "lockstep/optim/rmsprop.h"
#include "lockstep/optim/sgd.h"

namespace lockstep::optim {

std::unique_ptr<Optimizer> make_optimizer(const std::string& name,
                                          const nlohmann::json& hyperparameters) {
  if (name == "sgd") return Sgd::from_hyperparameters(hyperparameters);
  if (name == "rmsprop") return Rmsprop::from_hyperparameters(hyperparameters);
  if (name == "adam") return Adam::from_hyperparameters(hyperparameters);
  if (name == "adamw") return AdamW::from_hyperparameters(hyperparameters);
  LOCKSTEP_THROW("make_optimizer: unknown optimizer \"" << name
                                                        << "\"; expected sgd, rmsprop, adam "
                                                           "or adamw");
}

}  // namespace lockstep::optim
