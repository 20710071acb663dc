// The one-pass forms of a StepLayer: a single pass that is the whole step.
#include "lockstep/base/error.h"
#include "lockstep/nn/layer.h"

namespace lockstep::nn {

Tensor StepLayer::forward(const Tensor& x, const ForwardContext& context) {
  return forward_passes({x}, context).at(0);
}

Tensor StepLayer::backward(const Tensor& dy) {
  return backward_passes({dy}, [](int /*pass*/) {}).at(0);
}

}  // namespace lockstep::nn
