// Between steps: preemption agreed across ranks, checkpoint cadence (every N steps, every
// epoch end, and at a stop), the best checkpoint, the checkpoint-errors policy (for both) and
// the stop reports.
#include "train/step_boundary.h"

#include <string>

#include "lockstep/base/exit_codes.h"
#include "lockstep/base/logging.h"
#include "train/resume.h"

namespace lockstep::train {

using parallel::FitControl;

StepBoundary::StepBoundary(const TrainerOptions& options, int world_size,
                           parallel::DataParallel& engine, io::CheckpointWriter& writer,
                           runtime::TrainingProgress& progress, Validation& validation)
    : options_(options),
      world_size_(world_size),
      engine_(engine),
      writer_(writer),
      progress_(progress),
      validation_(validation) {}

FitControl StepBoundary::on_step(const parallel::StepReport& r) {
  // Every step, so that a signal that reached any rank stops all at the same step.
  notice_ = runtime::agree_on_preemption(engine_.communicator());
  stopping_ = notice_.requested() || (options_.max_steps > 0 && r.step >= options_.max_steps);
  if (r.batch + 1 == r.batches_per_epoch) return FitControl::kContinue;  // on_epoch decides
  const bool due = options_.checkpoint_every > 0 && r.step % options_.checkpoint_every == 0;
  if ((due || stopping_) && !save(writer_, r.epoch, (r.batch + 1) * options_.batch_size)) {
    return FitControl::kStop;
  }
  return stopping_ ? stop() : FitControl::kContinue;
}

FitControl StepBoundary::on_epoch(int64_t epoch) {
  // The best copy first: the regular checkpoint then records a best that is on disk already.
  if (validation_.improved_at(epoch)) {
    io::CheckpointWriter& best = validation_.best_writer();
    if (!save(best, epoch + 1, 0)) return FitControl::kStop;
    if (best.last_step() == engine_.step()) {
      logging::info("best checkpoint: %s (validation accuracy %.4f after epoch %lld)",
                    best.last_written().c_str(), validation_.best().accuracy,
                    static_cast<long long>(epoch + 1));
    }
  }
  if (!save(writer_, epoch + 1, 0)) return FitControl::kStop;
  return stopping_ ? stop() : FitControl::kContinue;
}

bool StepBoundary::save(io::CheckpointWriter& writer, int64_t epoch, int64_t position_in_epoch) {
  io::SaveOutcome outcome;
  progress_.exclude([&] {
    outcome = writer.save(engine_.model(), engine_.optimizer(),
                          run_state(options_, world_size_, engine_.step(), epoch, position_in_epoch,
                                    validation_.best()));
  });
  for (const std::string& warning : outcome.warnings) logging::warn("%s", warning.c_str());
  if (!outcome.failed()) return true;
  if (options_.checkpoint_errors == "continue") {
    logging::warn("%s; training continues (--checkpoint-errors continue)", outcome.error.c_str());
    return true;
  }
  logging::error("%s; training stops (exit code 5)", outcome.error.c_str());
  exit_code_ = kExitCheckpointFailed;
  return false;
}

FitControl StepBoundary::stop() {
  const long long step = static_cast<long long>(engine_.step());
  const std::string where = writer_.status_at(engine_.step());
  if (!notice_.requested()) {
    logging::info("stopped at step %lld (--max-steps): %s", step, where.c_str());
    exit_code_ = kExitOk;
    return FitControl::kStop;
  }
  logging::info("preempted by %s (received by rank %d): stopped at step %lld, %s%s",
                runtime::signal_name(notice_.signal).c_str(), notice_.rank, step, where.c_str(),
                writer_.enabled() ? "; continue with --resume auto" : "");
  exit_code_ = kExitPreempted;
  return FitControl::kStop;
}

}  // namespace lockstep::train
