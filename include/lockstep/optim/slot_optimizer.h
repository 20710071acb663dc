// SlotOptimizer: the bookkeeping shared by Lockstep's optimizers: per-parameter slot tensors
// (momentum, moving averages) keyed by parameter name, the step counter, and their
// checkpoint form as named tensors.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "lockstep/optim/optimizer.h"

namespace lockstep::optim {

class SlotOptimizer : public Optimizer {
 public:
  // Validates every parameter (gradient present, same shape and device as the value, names
  // unique), creates missing slots as zeros on the parameter's device, moves slots left on
  // another device (the model moved after load_state) to it, counts the step, then runs one
  // fused update per parameter on its device's backend.
  void step(const std::vector<nn::Parameter*>& parameters, float grad_scale) final;

  // A snapshot: "<parameter>.<slot>" for every slot in the order parameters were first seen,
  // then "step" ([1], the number of updates taken). Later steps do not change it.
  NamedTensors state() const final;
  // All-or-nothing: on error the current state is kept. Slots are copied onto each
  // parameter's device. Slots may be absent only when "step" is 0 (none were created yet).
  void load_state(const NamedTensors& state,
                  const std::vector<nn::Parameter*>& parameters) final;

  // Number of updates taken (counted across load_state).
  int64_t steps_taken() const { return steps_; }
  // Slot names of each parameter, e.g. {"exp_avg", "exp_avg_sq"}; empty for plain SGD.
  const std::vector<std::string>& slot_names() const { return slot_names_; }

  // The largest step count that state() can store exactly in its float "step" tensor.
  static constexpr int64_t kMaxStoredSteps = int64_t{1} << 24;

 protected:
  explicit SlotOptimizer(std::vector<std::string> slot_names);

  // One fused update of `parameter` from grad * grad_scale. `slots` holds its slot tensors in
  // slot_names() order, with the parameter's shape and device; `step` is 1 on the first
  // update.
  virtual void update(nn::Parameter& parameter, std::span<Tensor> slots, float grad_scale,
                      int64_t step) = 0;

 private:
  struct Entry {
    std::string parameter;
    std::vector<Tensor> slots;
  };

  void check_parameters(const std::vector<nn::Parameter*>& parameters, float grad_scale) const;
  Entry& entry_for(const nn::Parameter& parameter);

  std::vector<std::string> slot_names_;
  std::vector<Entry> entries_;  // in the order parameters were first seen
  std::unordered_map<std::string, size_t> index_;  // parameter name -> entries_ position
  int64_t steps_ = 0;
};

}  // namespace lockstep::optim
