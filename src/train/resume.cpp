// Resuming a run: finding its checkpoint, adopting the settings the checkpoint recorded, and
// recording them in every checkpoint the run writes.
#include "train/resume.h"

#include <algorithm>
#include <string>
#include <utility>

#include "lockstep/base/error.h"
#include "lockstep/base/logging.h"
#include "lockstep/data/augment.h"
#include "lockstep/io/run_settings.h"

namespace lockstep::train {

std::optional<io::Checkpoint> find_resume_point(comm::Communicator& world, TrainerOptions& o,
                                                const io::CheckpointTarget& target) {
  io::ResumePoint point = io::find_resume_checkpoint(world, o.resume, target);
  for (const io::SkippedCheckpoint& skipped : point.skipped) {
    if (world.rank() == 0) {
      logging::warn("skipping checkpoint '%s': %s", skipped.path.string().c_str(),
                    skipped.reason.c_str());
    }
  }
  if (point.checkpoint) {
    adopt_checkpoint_options(o, *point.checkpoint);
  } else if (o.resume == "auto") {
    logging::info("no checkpoint to resume from in '%s': starting afresh",
                  (o.checkpoint_dir.empty() ? o.checkpoint : o.checkpoint_dir).c_str());
  }
  return std::move(point.checkpoint);
}

namespace {

// The train part's own settings in trainer_state.extra, beside io::RunSettings: the
// augmentation text, validate_every and validation_split. Missing or malformed fields (older
// checkpoints) read as no augmentation and no held-out split.
constexpr const char* kAugment = "augment";
constexpr const char* kValidateEvery = "validate_every";
constexpr const char* kValidationSplit = "validation_split";

void record_data_settings(nlohmann::json& extra, const TrainerOptions& o) {
  extra[kAugment] = data::augmentation_text(data::parse_augmentation(o.augment));
  extra[kValidateEvery] = o.validate_every;
  extra[kValidationSplit] = o.validation_split;
}

// What decides which rows training sees and how: another value changes the run. A checkpoint
// from before these settings trained without augmentation and on the whole training split.
void adopt_data_settings(TrainerOptions& o, const io::Checkpoint& ck) {
  const nlohmann::json& extra = ck.state.extra;
  if (!extra.is_object()) return;
  std::string augment = "none";
  if (extra.contains(kAugment) && extra[kAugment].is_string()) {
    const std::string what =
        "--resume: the augmentation checkpoint '" + ck.path.string() + "' records";
    augment =
        data::augmentation_text(data::parse_augmentation(extra[kAugment].get<std::string>(), what));
  }
  double split = 0.0;
  if (extra.contains(kValidationSplit) && extra[kValidationSplit].is_number()) {
    const double saved = extra[kValidationSplit].get<double>();
    if (saved > 0 && saved < 1) split = saved;
  }
  if (extra.contains(kValidateEvery) && extra[kValidateEvery].is_number_integer() &&
      !o.given.validate_every) {
    o.validate_every = std::max<int64_t>(0, extra[kValidateEvery].get<int64_t>());
  }
  if (!o.given.augment) o.augment = augment;
  if (!o.given.validation_split) o.validation_split = split;
  const std::string given = data::augmentation_text(data::parse_augmentation(o.augment));
  if (logging::rank() != 0) return;
  if (given != augment) {
    logging::warn(
        "--augment %s differs from the checkpoint's %s: the run goes on, but no longer "
        "as it would have without the stop",
        given.c_str(), augment.c_str());
  }
  if (o.validation_split != split) {
    logging::warn(
        "--validation-split %g differs from the checkpoint's %g: the run goes on, but "
        "trains on other samples than it would have without the stop",
        o.validation_split, split);
  }
}

}  // namespace

void adopt_checkpoint_options(TrainerOptions& o, const io::Checkpoint& ck) {
  const std::string source = ck.path.string();
  if (!o.given.optimizer) o.optimizer = ck.optimizer_name;
  LOCKSTEP_CHECK(o.optimizer == ck.optimizer_name,
                 "--resume: checkpoint '" << source << "' was trained with optimizer '"
                                          << ck.optimizer_name << "', --optimizer says '"
                                          << o.optimizer << "'");
  if (!o.given.seed) o.seed = static_cast<int64_t>(ck.state.seed);
  LOCKSTEP_CHECK(static_cast<uint64_t>(o.seed) == ck.state.seed,
                 "--resume: checkpoint '" << source << "' has seed " << ck.state.seed
                                          << ", --seed says " << o.seed
                                          << "; a resumed run keeps its seed");
  const io::RunSettings saved = io::read_run_settings(ck.state.extra);
  if (saved.batch_size && !o.given.batch_size) o.batch_size = *saved.batch_size;
  if (saved.epochs && !o.given.epochs) o.epochs = *saved.epochs;
  if (saved.max_steps && !o.given.max_steps) o.max_steps = *saved.max_steps;
  if (saved.data && !o.given.data) o.data = *saved.data;
  // The schedule continues where the checkpoint left it, unless this run says otherwise.
  if (saved.lr_schedule && !o.given.lr_schedule) o.lr_schedule.kind = *saved.lr_schedule;
  if (saved.lr_steps && !o.given.lr_steps) o.lr_schedule.steps = *saved.lr_steps;
  if (saved.lr_decay && !o.given.lr_decay) o.lr_schedule.decay = *saved.lr_decay;
  if (saved.warmup_epochs && !o.given.warmup_epochs) {
    o.lr_schedule.warmup_epochs = *saved.warmup_epochs;
  }
  // Micro-batches fix the arithmetic: another size still trains, but not bit for bit.
  if (saved.micro_batch && !o.given.micro_batch) o.micro_batch = *saved.micro_batch;
  if (saved.micro_batch && *saved.micro_batch != o.micro_batch && logging::rank() == 0) {
    logging::warn(
        "--micro-batch %lld differs from the checkpoint's %lld: the run goes on, but "
        "no longer bit for bit as it would have without the stop",
        static_cast<long long>(o.micro_batch), static_cast<long long>(*saved.micro_batch));
  }
  adopt_data_settings(o, ck);
  LOCKSTEP_CHECK(ck.state.position_in_epoch % o.batch_size == 0,
                 "--resume: checkpoint '"
                     << source << "' stopped after sample " << ck.state.position_in_epoch
                     << " of epoch " << ck.state.epoch + 1 << ", not a multiple of --batch-size "
                     << o.batch_size);
}

io::TrainerState run_state(const TrainerOptions& o, int world_size, int64_t step, int64_t epoch,
                           int64_t position_in_epoch, const BestValidation& best) {
  io::TrainerState state;
  state.step = step;
  state.epoch = epoch;
  state.position_in_epoch = position_in_epoch;
  state.seed = static_cast<uint64_t>(o.seed);
  state.world_size = world_size;
  io::RunSettings settings{o.batch_size, o.epochs, o.max_steps, o.micro_batch, o.data};
  settings.lr_schedule = o.lr_schedule.kind;
  settings.lr_steps = o.lr_schedule.steps;
  settings.lr_decay = o.lr_schedule.decay;
  settings.warmup_epochs = o.lr_schedule.warmup_epochs;
  state.extra = io::run_settings_json(settings);
  record_data_settings(state.extra, o);
  record_best_validation(state.extra, best);
  state.extra["loss"] = "cross_entropy";
  return state;
}

}  // namespace lockstep::train
