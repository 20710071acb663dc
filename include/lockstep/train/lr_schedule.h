// The learning-rate schedule of a run: constant, step decay at given epochs or cosine annealing
// to 0 over the whole run, after an optional linear warm-up (Goyal et al. 2017). The rate is a
// pure function of the step, so a resumed run continues it exactly.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lockstep/optim/optimizer.h"

namespace lockstep::train {

struct LrSchedule {
  std::string kind = "constant";  // constant, step or cosine
  std::vector<int64_t> steps;     // step: the epochs (increasing, >= 1) at which lr decays
  double decay = 0.1;             // step: the factor applied at each of those epochs
  int64_t warmup_epochs = 0;      // linear warm-up over this many epochs (0: none)
};

// The names parse_lr_schedule knows, for a message: "constant, step or cosine".
std::string lr_schedule_names_text();

// Throws lockstep::Error naming the train flag (--lr-schedule, --lr-steps, --lr-decay,
// --warmup-epochs) of the first value out of range. With `complete`, also the combinations: step
// needs --lr-steps, and --lr-steps applies to step only.
void validate_lr_schedule(const LrSchedule& schedule, bool complete);

// "1,5,10" <-> {1, 5, 10}; the text of the --lr-steps flag. Throws lockstep::Error on anything
// but comma-separated integers.
std::vector<int64_t> parse_lr_steps(const std::string& text);
std::string lr_steps_text(const std::vector<int64_t>& steps);

// The rate of step `step` (0-based: the steps taken before it) of a run of `epochs` epochs of
// `steps_per_epoch` steps from the base rate `base_lr`:
//   warm-up, step < W*S (W warm-up epochs, S steps per epoch): base * (step + 1) / (W*S)
//   constant: base
//   step:     base * decay^k, k the listed epochs E with E <= step / S (epochs finished)
//   cosine:   base * (1 + cos(pi * step / T)) / 2, T = epochs * S (CosineAnnealingLR, eta_min 0)
double learning_rate_at(const LrSchedule& schedule, double base_lr, int64_t step,
                        int64_t steps_per_epoch, int64_t epochs);

// Whether the rate ever differs from the base rate.
bool is_constant(const LrSchedule& schedule);

// An optimizer that takes each step at the scheduled rate and otherwise is `inner`: its
// hyperparameters (and so a checkpoint's) hold the base rate, and its state is inner's.
// `next_step` is the number of steps the run has taken already.
std::unique_ptr<optim::Optimizer> scheduled_optimizer(std::unique_ptr<optim::Optimizer> inner,
                                                      const LrSchedule& schedule,
                                                      int64_t steps_per_epoch, int64_t epochs,
                                                      int64_t next_step);

}  // namespace lockstep::train
