// The check of TrainerOptions: every range and every accepted text, before a run starts.
#include "lockstep/train/trainer_options.h"

#include <algorithm>
#include <cmath>

#include "lockstep/base/error.h"
#include "lockstep/data/augment.h"
#include "lockstep/optim/optimizer.h"
#include "lockstep/parallel/data_parallel.h"
#include "lockstep/runtime/progress.h"

namespace lockstep::train {

void validate_options(const TrainerOptions& o) {
  LOCKSTEP_CHECK(o.epochs >= 1, "--epochs must be at least 1, found " << o.epochs);
  LOCKSTEP_CHECK(o.batch_size >= 1, "--batch-size must be at least 1, found " << o.batch_size);
  const std::vector<std::string>& optimizers = optim::optimizer_names();
  LOCKSTEP_CHECK(
      std::find(optimizers.begin(), optimizers.end(), o.optimizer) != optimizers.end(),
      "--optimizer must be " << optim::optimizer_names_text() << ", found '" << o.optimizer << "'");
  // The combinations are checked once a resume has adopted the checkpoint's schedule.
  validate_lr_schedule(o.lr_schedule, o.resume.empty());
  LOCKSTEP_CHECK(o.seed >= 0, "--seed must be at least 0, found " << o.seed);
  LOCKSTEP_CHECK(o.bucket_mb > 0 && o.bucket_mb <= 4096,
                 "--bucket-mb must be in (0, 4096], found " << o.bucket_mb);
  LOCKSTEP_CHECK(o.micro_batch >= 0, "--micro-batch must be at least 0, found " << o.micro_batch);
  LOCKSTEP_CHECK(o.checkpoint_every >= 0,
                 "--checkpoint-every must be at least 0, found " << o.checkpoint_every);
  LOCKSTEP_CHECK(o.log_every >= 1, "--log-every must be at least 1, found " << o.log_every);
  LOCKSTEP_CHECK(o.checkpoint.empty() || o.checkpoint_dir.empty(),
                 "--checkpoint and --checkpoint-dir exclude each other; give one");
  LOCKSTEP_CHECK(o.keep_checkpoints >= 1,
                 "--keep-checkpoints must be at least 1, found " << o.keep_checkpoints);
  LOCKSTEP_CHECK(
      o.checkpoint_errors == "stop" || o.checkpoint_errors == "continue",
      "--checkpoint-errors must be stop or continue, found '" << o.checkpoint_errors << "'");
  LOCKSTEP_CHECK(o.resume != "auto" || !o.checkpoint.empty() || !o.checkpoint_dir.empty(),
                 "--resume auto needs --checkpoint-dir (or --checkpoint) to look in");
  LOCKSTEP_CHECK(o.max_steps >= 0, "--max-steps must be at least 0, found " << o.max_steps);
  LOCKSTEP_CHECK(
      o.collective_timeout > 0 && std::isfinite(o.collective_timeout),
      "--collective-timeout must be a positive number of seconds, found " << o.collective_timeout);
  runtime::parse_progress_style(o.progress);         // throws naming the accepted styles
  parallel::parse_input_mode(o.input);               // throws naming the accepted modes
  data::parse_augmentation(o.augment, "--augment");  // throws naming the accepted names
  LOCKSTEP_CHECK(o.batch_norm.empty() || o.batch_norm == "sync" || o.batch_norm == "ghost",
                 "--batch-norm must be sync or ghost, found '" << o.batch_norm << "'");
  LOCKSTEP_CHECK(o.validate_every >= 0,
                 "--validate-every must be at least 0 (0: never), found " << o.validate_every);
  // NaN fails every comparison, so it is refused too.
  LOCKSTEP_CHECK(o.validation_split == 0 || (o.validation_split > 0 && o.validation_split < 1),
                 "--validation-split must be a fraction in (0, 1), found " << o.validation_split);
  LOCKSTEP_CHECK(o.best_checkpoint.empty() || o.best_checkpoint != o.checkpoint,
                 "--best-checkpoint must differ from --checkpoint, found '" << o.best_checkpoint
                                                                            << "' for both");
  if (o.resume.empty()) validate_validation_options(o);
}

void validate_validation_options(const TrainerOptions& o) {
  LOCKSTEP_CHECK(o.validation_split == 0 || o.validate_every > 0,
                 "--validation-split needs --validate-every (the held-out samples would never "
                 "be evaluated)");
  LOCKSTEP_CHECK(o.best_checkpoint.empty() || o.validate_every > 0,
                 "--best-checkpoint needs --validate-every (it keeps the checkpoint with the best "
                 "validation accuracy)");
}

}  // namespace lockstep::train
