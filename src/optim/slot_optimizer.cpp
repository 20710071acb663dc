// SlotOptimizer: validation of parameters, lazy slot creation, the step counter, and the
// conversion of the state to and from named tensors.
#include "lockstep/optim/slot_optimizer.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <unordered_set>
#include <utility>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "tensor/pack.h"

namespace lockstep::optim {
namespace {

// "a", "b", "c" and 4 more: keeps messages readable for models with many parameters.
std::string quoted_list(const std::vector<std::string>& names) {
  constexpr size_t kShown = 8;
  std::string text;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) {
    text += (i == 0 ? "\"" : ", \"") + names[i] + "\"";
  }
  if (names.size() > kShown) text += " and " + std::to_string(names.size() - kShown) + " more";
  return text;
}

void check_unique_names(const std::vector<nn::Parameter*>& parameters, const std::string& who) {
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < parameters.size(); ++i) {
    LOCKSTEP_CHECK(parameters[i] != nullptr, who << ": parameter " << i << " is null");
    LOCKSTEP_CHECK(seen.insert(parameters[i]->name).second,
                   who << ": parameter name \"" << parameters[i]->name
                       << "\" appears twice; state is keyed by name, so names must be unique");
  }
}

// The step count stored in a "step" tensor: a whole number in [0, kMaxStoredSteps].
int64_t read_step_count(const Tensor& step, const std::string& who) {
  LOCKSTEP_CHECK(step.shape() == Shape{1},
                 who << ": \"step\" must have shape [1], found " << to_string(step.shape()));
  const float value = step.to_vector()[0];
  LOCKSTEP_CHECK(std::isfinite(value) && value >= 0.0f && std::floor(value) == value &&
                     value <= static_cast<float>(SlotOptimizer::kMaxStoredSteps),
                 who << ": \"step\" must hold a whole number in [0, "
                     << SlotOptimizer::kMaxStoredSteps << "], found " << value);
  return static_cast<int64_t>(value);
}

// One message for every way a loaded state fails to fit the parameters.
void throw_if_unfit(const std::string& who, size_t parameter_count, size_t slot_count,
                    const std::vector<std::string>& missing,
                    const std::vector<std::string>& unknown,
                    const std::vector<std::string>& misshapen) {
  if (missing.empty() && unknown.empty() && misshapen.empty()) return;
  std::string problems;
  if (!missing.empty()) problems += "; missing " + quoted_list(missing);
  if (!unknown.empty()) problems += "; no parameter or slot for " + quoted_list(unknown);
  for (const std::string& text : misshapen) problems += "; \"" + text;
  LOCKSTEP_THROW(who << ": the state does not fit the " << parameter_count
                     << " parameters (slots per parameter: " << slot_count << ")" << problems);
}

}  // namespace

SlotOptimizer::SlotOptimizer(std::vector<std::string> slot_names)
    : slot_names_(std::move(slot_names)) {}

void SlotOptimizer::check_parameters(const std::vector<nn::Parameter*>& parameters,
                                     float grad_scale) const {
  const std::string who = name() + " step";
  LOCKSTEP_CHECK(std::isfinite(grad_scale) && grad_scale > 0.0f,
                 who << ": grad_scale must be a finite number > 0, found " << grad_scale);
  check_unique_names(parameters, who);
  for (const nn::Parameter* p : parameters) {
    const std::string what = who + ": parameter \"" + p->name + "\"";
    LOCKSTEP_CHECK(p->value.defined(), what << " has no value tensor");
    LOCKSTEP_CHECK(p->grad.defined(), what << " has no gradient tensor");
    check_same_shape(p->value, p->grad, (what + " value and gradient").c_str());
    check_same_device(p->value, p->grad, (what + " value and gradient").c_str());
    // Fails here, before any parameter changed, when this build has no backend for it.
    backend::backend_for(p->value.device());
    const auto found = index_.find(p->name);
    if (found == index_.end()) continue;
    for (size_t s = 0; s < slot_names_.size(); ++s) {
      const Tensor& slot = entries_[found->second].slots[s];
      const std::string slot_what = what + " and its slot \"" + slot_names_[s] + "\"";
      check_same_shape(p->value, slot, slot_what.c_str());  // the device may differ: see step
    }
  }
}

SlotOptimizer::Entry& SlotOptimizer::entry_for(const nn::Parameter& parameter) {
  const auto found = index_.find(parameter.name);
  if (found != index_.end()) return entries_[found->second];
  Entry entry{parameter.name, {}};
  for (size_t s = 0; s < slot_names_.size(); ++s) {
    entry.slots.push_back(Tensor::zeros(parameter.value.shape(), parameter.value.device()));
  }
  index_.emplace(parameter.name, entries_.size());
  entries_.push_back(std::move(entry));
  return entries_.back();
}

namespace {

// Splits `parameters` into runs whose values and grads each lie end to end in memory on one
// device, in address order.
std::vector<std::vector<nn::Parameter*>> contiguous_runs(
    const std::vector<nn::Parameter*>& parameters) {
  std::vector<nn::Parameter*> sorted = parameters;
  std::sort(sorted.begin(), sorted.end(), [](const nn::Parameter* a, const nn::Parameter* b) {
    if (a->value.device() != b->value.device()) {
      return a->value.device().str() < b->value.device().str();
    }
    return std::less<const float*>{}(a->value.data(), b->value.data());
  });
  std::vector<std::vector<nn::Parameter*>> runs;
  for (nn::Parameter* p : sorted) {
    if (!runs.empty()) {
      const nn::Parameter* last = runs.back().back();
      const int64_t n = last->value.numel();
      if (p->value.device() == last->value.device() && p->value.data() == last->value.data() + n &&
          p->grad.data() == last->grad.data() + n) {
        runs.back().push_back(p);
        continue;
      }
    }
    runs.push_back({p});
  }
  return runs;
}

}  // namespace

void SlotOptimizer::lay_out_slots(const std::vector<nn::Parameter*>& run,
                                  const std::vector<Entry*>& entries, size_t s) {
  bool contiguous = true;
  for (size_t i = 1; i < entries.size() && contiguous; ++i) {
    const Tensor& previous = entries[i - 1]->slots[s];
    contiguous = entries[i]->slots[s].data() == previous.data() + previous.numel();
  }
  if (contiguous) return;
  std::vector<Tensor*> slots;
  for (Entry* entry : entries) slots.push_back(&entry->slots[s]);
  pack_end_to_end(slots, run.front()->value.device());
}

void SlotOptimizer::step(const std::vector<nn::Parameter*>& parameters, float grad_scale) {
  check_parameters(parameters, grad_scale);
  ++steps_;
  for (nn::Parameter* p : parameters) {
    Entry& entry = entry_for(*p);
    // Slots follow their parameter: a resume loads the state before the engine moves the
    // model to its GPU, and the slots move along at the first step.
    for (Tensor& slot : entry.slots) {
      if (slot.device() != p->value.device()) slot = slot.to(p->value.device());
    }
  }
  // entry_for no longer grows entries_, so pointers into it stay valid from here on.
  updates_last_step_ = 0;
  for (const std::vector<nn::Parameter*>& run : contiguous_runs(parameters)) {
    std::vector<Entry*> entries;
    for (const nn::Parameter* p : run) entries.push_back(&entries_[index_.at(p->name)]);
    Span span{
        run.front()->value.device(), run.front()->value.data(), run.front()->grad.data(), {}, 0};
    for (size_t s = 0; s < slot_names_.size(); ++s) {
      if (run.size() > 1) lay_out_slots(run, entries, s);
      span.slots.push_back(entries.front()->slots[s].data());
    }
    for (const nn::Parameter* p : run) span.n += p->value.numel();
    update(span, grad_scale, steps_);
    ++updates_last_step_;
  }
}

NamedTensors SlotOptimizer::state() const {
  LOCKSTEP_CHECK(steps_ <= kMaxStoredSteps,
                 name() << " state: " << steps_ << " steps taken; the float \"step\" tensor "
                        << "holds step counts exactly only up to " << kMaxStoredSteps);
  NamedTensors state;
  for (const Entry& entry : entries_) {
    for (size_t s = 0; s < slot_names_.size(); ++s) {
      state.push_back({entry.parameter + "." + slot_names_[s], entry.slots[s].clone()});
    }
  }
  state.push_back({"step", Tensor::full({1}, static_cast<float>(steps_))});
  return state;
}

void SlotOptimizer::load_state(const NamedTensors& state,
                               const std::vector<nn::Parameter*>& parameters) {
  const std::string who = name() + " load_state";
  std::map<std::string, const Tensor*> by_name;
  for (const NamedTensor& item : state) {
    LOCKSTEP_CHECK(by_name.emplace(item.name, &item.tensor).second,
                   who << ": state tensor \"" << item.name << "\" appears twice");
  }
  const auto step_item = by_name.find("step");
  LOCKSTEP_CHECK(step_item != by_name.end(), who << ": the state has no \"step\" tensor");
  const int64_t steps = read_step_count(*step_item->second, who);
  check_unique_names(parameters, who);

  std::vector<Entry> entries;
  std::unordered_set<std::string> used{"step"};
  std::vector<std::string> missing, misshapen, unknown;
  for (const nn::Parameter* p : parameters) {
    Entry entry{p->name, {}};
    std::vector<std::string> absent;
    for (const std::string& slot : slot_names_) {
      const std::string key = p->name + "." + slot;
      const auto found = by_name.find(key);
      if (found == by_name.end()) {
        absent.push_back(key);
        continue;
      }
      used.insert(key);
      const Tensor& source = *found->second;
      if (source.shape() != p->value.shape()) {
        misshapen.push_back(key + "\" has shape " + to_string(source.shape()) +
                            " but parameter \"" + p->name + "\" has " +
                            to_string(p->value.shape()));
        continue;
      }
      entry.slots.push_back(Tensor::empty(source.shape(), p->value.device()));
      entry.slots.back().copy_from(source);
    }
    // Before the first step no slot exists yet, so a parameter without any lacks nothing.
    if (steps == 0 && !slot_names_.empty() && absent.size() == slot_names_.size()) continue;
    missing.insert(missing.end(), absent.begin(), absent.end());
    if (entry.slots.size() == slot_names_.size()) entries.push_back(std::move(entry));
  }
  for (const auto& [key, tensor] : by_name) {
    if (used.count(key) == 0) unknown.push_back(key);
  }
  throw_if_unfit(who, parameters.size(), slot_names_.size(), missing, unknown, misshapen);

  entries_ = std::move(entries);
  index_.clear();
  for (size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].parameter, i);
  steps_ = steps;
}

}  // namespace lockstep::optim
