// The learning-rate schedules, their checks, and the optimizer that applies them per step.
#include "lockstep/train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <sstream>
#include <utility>

#include "lockstep/base/error.h"

namespace lockstep::train {

namespace {

class ScheduledOptimizer final : public optim::Optimizer {
 public:
  ScheduledOptimizer(std::unique_ptr<optim::Optimizer> inner, LrSchedule schedule,
                     int64_t steps_per_epoch, int64_t epochs, int64_t next_step)
      : inner_(std::move(inner)),
        schedule_(std::move(schedule)),
        steps_per_epoch_(steps_per_epoch),
        epochs_(epochs),
        next_step_(next_step),
        base_lr_(inner_->learning_rate()) {}

  std::string name() const override { return inner_->name(); }
  nlohmann::json hyperparameters() const override { return inner_->hyperparameters(); }

  void step(const std::vector<nn::Parameter*>& parameters, float grad_scale) override {
    const double lr = learning_rate_at(schedule_, base_lr_, next_step_, steps_per_epoch_, epochs_);
    // A rate that rounds to 0 in float (the last cosine steps of a tiny base rate) takes the
    // smallest normal float: optimizers accept positive rates only.
    inner_->set_learning_rate(std::max(static_cast<float>(lr), std::numeric_limits<float>::min()));
    inner_->step(parameters, grad_scale);
    inner_->set_learning_rate(base_lr_);
    ++next_step_;
  }

  NamedTensors state() const override { return inner_->state(); }
  void load_state(const NamedTensors& state,
                  const std::vector<nn::Parameter*>& parameters) override {
    inner_->load_state(state, parameters);
  }

  float learning_rate() const override { return base_lr_; }
  void set_learning_rate(float lr) override {
    inner_->set_learning_rate(lr);
    base_lr_ = lr;
  }

 private:
  std::unique_ptr<optim::Optimizer> inner_;
  LrSchedule schedule_;
  int64_t steps_per_epoch_;
  int64_t epochs_;
  int64_t next_step_;
  float base_lr_;
};

}  // namespace

std::string lr_schedule_names_text() { return "constant, step or cosine"; }

void validate_lr_schedule(const LrSchedule& s, bool complete) {
  LOCKSTEP_CHECK(
      s.kind == "constant" || s.kind == "step" || s.kind == "cosine",
      "--lr-schedule must be " << lr_schedule_names_text() << ", found '" << s.kind << "'");
  for (size_t i = 0; i < s.steps.size(); ++i) {
    LOCKSTEP_CHECK(s.steps[i] >= 1 && (i == 0 || s.steps[i] > s.steps[i - 1]),
                   "--lr-steps must be increasing epochs of at least 1, found '"
                       << lr_steps_text(s.steps) << "'");
  }
  LOCKSTEP_CHECK(s.decay > 0 && s.decay <= 1, "--lr-decay must be in (0, 1], found " << s.decay);
  LOCKSTEP_CHECK(s.warmup_epochs >= 0,
                 "--warmup-epochs must be at least 0, found " << s.warmup_epochs);
  if (!complete) return;
  LOCKSTEP_CHECK(s.kind != "step" || !s.steps.empty(),
                 "--lr-schedule step needs --lr-steps, the epochs at which the rate decays");
  LOCKSTEP_CHECK(s.kind == "step" || s.steps.empty(),
                 "--lr-steps applies to --lr-schedule step only, the schedule is " << s.kind);
}

std::vector<int64_t> parse_lr_steps(const std::string& text) {
  std::vector<int64_t> steps;
  if (text.empty()) return steps;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    int64_t value = 0;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    LOCKSTEP_CHECK(!item.empty() && used == item.size(),
                   "--lr-steps must be comma-separated epochs (1,5,10), found '" << text << "'");
    steps.push_back(value);
  }
  LOCKSTEP_CHECK(text.back() != ',',
                 "--lr-steps must be comma-separated epochs (1,5,10), found '" << text << "'");
  return steps;
}

std::string lr_steps_text(const std::vector<int64_t>& steps) {
  std::string text;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (i > 0) text += ',';
    text += std::to_string(steps[i]);
  }
  return text;
}

double learning_rate_at(const LrSchedule& s, double base_lr, int64_t step, int64_t steps_per_epoch,
                        int64_t epochs) {
  LOCKSTEP_CHECK(step >= 0 && steps_per_epoch >= 1 && epochs >= 1,
                 "learning_rate_at: expected step >= 0, steps per epoch and epochs >= 1, found "
                     << step << ", " << steps_per_epoch << ", " << epochs);
  const int64_t warmup_steps = s.warmup_epochs * steps_per_epoch;
  if (step < warmup_steps) {
    return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  }
  if (s.kind == "step") {
    const int64_t finished = step / steps_per_epoch;
    double lr = base_lr;
    for (const int64_t epoch : s.steps) {
      if (epoch <= finished) lr *= s.decay;
    }
    return lr;
  }
  if (s.kind == "cosine") {
    const double total = static_cast<double>(epochs * steps_per_epoch);
    return base_lr * 0.5 * (1.0 + std::cos(std::numbers::pi * static_cast<double>(step) / total));
  }
  return base_lr;
}

bool is_constant(const LrSchedule& s) { return s.kind == "constant" && s.warmup_epochs == 0; }

std::unique_ptr<optim::Optimizer> scheduled_optimizer(std::unique_ptr<optim::Optimizer> inner,
                                                      const LrSchedule& schedule,
                                                      int64_t steps_per_epoch, int64_t epochs,
                                                      int64_t next_step) {
  if (is_constant(schedule)) return inner;
  return std::make_unique<ScheduledOptimizer>(std::move(inner), schedule, steps_per_epoch, epochs,
                                              next_step);
}

}  // namespace lockstep::train
