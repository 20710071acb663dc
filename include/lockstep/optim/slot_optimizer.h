// SlotOptimizer: the bookkeeping shared by Lockstep's optimizers: per-parameter slot tensors
// (momentum, moving averages) keyed by parameter name, the step counter, and their
// checkpoint form as named tensors.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "lockstep/optim/optimizer.h"

namespace lockstep::optim {

class SlotOptimizer : public Optimizer {
 public:
  // Validates every parameter (gradient present, same shape and device as the value, names
  // unique), creates missing slots as zeros on the parameter's device, moves slots left on
  // another device (the model moved after load_state) to it, counts the step, then runs the
  // fused update on each device's backend: one call per run of parameters whose values and
  // grads lie end to end in memory (DataParallel lays them out so, bucket by bucket), whose
  // slots are then laid out the same way; one call per parameter otherwise. The update is
  // elementwise, so the result is the same either way, bit for bit.
  void step(const std::vector<nn::Parameter*>& parameters, float grad_scale) final;

  // A snapshot: "<parameter>.<slot>" for every slot in the order parameters were first seen,
  // then "step" ([1], the number of updates taken). Later steps do not change it.
  NamedTensors state() const final;
  // All-or-nothing: on error the current state is kept. Slots are copied onto each
  // parameter's device. Slots may be absent only when "step" is 0 (none were created yet).
  void load_state(const NamedTensors& state, const std::vector<nn::Parameter*>& parameters) final;

  // Number of updates taken (counted across load_state).
  int64_t steps_taken() const { return steps_; }
  // Slot names of each parameter, e.g. {"exp_avg", "exp_avg_sq"}; empty for plain SGD.
  const std::vector<std::string>& slot_names() const { return slot_names_; }
  // Fused update calls of the last step (one per run of contiguous parameters).
  size_t updates_last_step() const { return updates_last_step_; }

  // The largest step count that state() can store exactly in its float "step" tensor.
  static constexpr int64_t kMaxStoredSteps = int64_t{1} << 24;

 protected:
  explicit SlotOptimizer(std::vector<std::string> slot_names);

  // n elements of one or more parameters, end to end in memory on `device`: values, their
  // grads, and each slot (slot_names() order).
  struct Span {
    Device device;
    float* value;
    const float* grad;
    std::vector<float*> slots;
    int64_t n;
  };
  // One fused update of `span` from grad * grad_scale; `step` is 1 on the first update. It
  // must be elementwise (each element's new value depends on that element alone), since one
  // call may cover several parameters.
  virtual void update(const Span& span, float grad_scale, int64_t step) = 0;

 private:
  struct Entry {
    std::string parameter;
    std::vector<Tensor> slots;
  };

  void check_parameters(const std::vector<nn::Parameter*>& parameters, float grad_scale) const;
  Entry& entry_for(const nn::Parameter& parameter);
  // Gives slot `s` of the run's parameters one buffer, in their order, when it has none yet.
  void lay_out_slots(const std::vector<nn::Parameter*>& run, const std::vector<Entry*>& entries,
                     size_t s);

  std::vector<std::string> slot_names_;
  std::vector<Entry> entries_;                     // in the order parameters were first seen
  std::unordered_map<std::string, size_t> index_;  // parameter name -> entries_ position
  int64_t steps_ = 0;
  size_t updates_last_step_ = 0;
};

}  // namespace lockstep::optim
