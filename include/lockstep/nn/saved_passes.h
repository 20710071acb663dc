// SavedPasses: what a layer's forward keeps for its backward, one entry per pass of a training
// step. A Model runs every pass of a step through one layer before the next (so that BatchNorm
// sees the whole step) and back through it in the reverse order, so backward takes the entries
// last in, first out, as an autograd tape does. A forward of pass 0 begins a new step and drops
// what an earlier forward left (an evaluation, or a step that never ran backward).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/nn/layer.h"

namespace lockstep::nn {

// The shape and device of a tensor, for layers whose backward needs no more of their input.
struct ShapeOn {
  Shape shape;
  Device device = Device::cpu();
};

template <typename Saved>
class SavedPasses {
 public:
  void push(const ForwardContext& context, Saved saved) {
    if (context.pass == 0) saved_.clear();
    LOCKSTEP_CHECK(static_cast<int>(saved_.size()) == context.pass,
                   "forward of pass " << context.pass << " after " << saved_.size()
                                      << " passes of the step; passes run in order from 0");
    saved_.push_back(std::move(saved));
  }

  // The entry of the last forward not yet taken by a backward; throws naming `layer` when
  // there is none.
  Saved pop(const std::string& layer) {
    LOCKSTEP_CHECK(!saved_.empty(), layer << ": backward called before forward (or more often "
                                             "than forward)");
    Saved saved = std::move(saved_.back());
    saved_.pop_back();
    return saved;
  }

 private:
  std::vector<Saved> saved_;
};

}  // namespace lockstep::nn
