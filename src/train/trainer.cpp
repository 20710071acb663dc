// Trainer::run: binds the device, finds the resume point, builds the model, the engine and the
// checkpoint writers, trains (validating every N epochs) with the step-boundary policy, then
// reports the profile and evaluates the test split.
#include "lockstep/train/trainer.h"

#include <memory>
#include <sstream>
#include <utility>

#include "lockstep/base/error.h"
#include "lockstep/base/logging.h"
#include "lockstep/base/profiler.h"
#include "lockstep/data/augment.h"
#include "lockstep/data/data_source.h"
#include "lockstep/data/sampler.h"
#include "lockstep/io/checkpoint_writer.h"
#include "lockstep/nn/loss.h"
#include "lockstep/parallel/profile_report.h"
#include "lockstep/runtime/device_binding.h"
#include "lockstep/runtime/device_communicator.h"
#include "lockstep/runtime/fault_injection.h"
#include "lockstep/runtime/progress.h"
#include "train/resume.h"
#include "train/run_setup.h"
#include "train/step_boundary.h"
#include "train/validation.h"

namespace lockstep::train {

namespace {

parallel::DataParallelOptions engine_options(const TrainerOptions& o) {
  parallel::DataParallelOptions options;
  options.input = parallel::parse_input_mode(o.input);
  options.bucket_bytes = static_cast<int64_t>(o.bucket_mb * (1 << 20));
  options.micro_batch = o.micro_batch;
  options.collective_timeout_s = o.collective_timeout;
  return options;
}

// In scatter mode only rank 0 holds the data; the others pass empty splits.
data::TrainTestData load_data(const TrainerOptions& o, const parallel::DataParallelOptions& engine,
                              int rank) {
  if (rank != 0 && engine.input != parallel::InputMode::kSharded) return {};
  return data::load_train_test(o.data, data::kDefaultFashionMnistDir,
                               static_cast<uint64_t>(o.seed));
}

void describe_run(const TrainerOptions& o, int world_size, const Device& device,
                  parallel::DataParallel& dp, const data::TrainTestData& data,
                  const TrainingSets& sets, const std::optional<io::Checkpoint>& checkpoint) {
  logging::info("model %s: %lld parameters; %s x %d ranks, %s input; optimizer %s, lr %g",
                dp.model().name().c_str(), static_cast<long long>(dp.model().parameter_count()),
                device.str().c_str(), world_size, o.input.c_str(), o.optimizer.c_str(),
                static_cast<double>(dp.optimizer().learning_rate()));
  logging::info("data %s: train %lld samples, test %lld; global batch %lld; augment %s",
                o.data.c_str(), static_cast<long long>(sets.train.size()),
                static_cast<long long>(data.test.size()), static_cast<long long>(o.batch_size),
                o.augment.c_str());
  if (o.validate_every > 0) {
    logging::info("validation every %lld epochs on %s (%lld samples)%s%s",
                  static_cast<long long>(o.validate_every), sets.validation_name.c_str(),
                  static_cast<long long>(sets.validation.size()),
                  o.best_checkpoint.empty() ? "" : "; best checkpoint ", o.best_checkpoint.c_str());
  }
  if (!checkpoint) return;
  const io::TrainerState& start = checkpoint->state;
  logging::info("resuming '%s' at epoch %lld, sample %lld, step %lld (saved by %d ranks)",
                checkpoint->path.c_str(), static_cast<long long>(start.epoch + 1),
                static_cast<long long>(start.position_in_epoch), static_cast<long long>(start.step),
                start.world_size);
}

// Trains from `start` up to o.epochs, unless the run is complete already; returns the exit
// code the step boundaries decided.
int fit(const TrainerOptions& o, parallel::DataParallel& dp, const data::Dataset& train,
        const io::TrainerState& start, runtime::TrainingProgress& progress,
        const Trainer::StepObserver& observer, Validation& validation, StepBoundary& boundary) {
  if (start.epoch >= o.epochs) {
    logging::info("the run is complete at epoch %lld of %lld: nothing to train",
                  static_cast<long long>(start.epoch), static_cast<long long>(o.epochs));
    return kExitOk;
  }
  if (o.max_steps > 0 && start.step >= o.max_steps) {
    logging::info("the run is at step %lld, --max-steps %lld: nothing to train",
                  static_cast<long long>(start.step), static_cast<long long>(o.max_steps));
    return kExitOk;
  }
  parallel::FitOptions fit;
  fit.epochs = o.epochs;
  fit.batch_size = o.batch_size;
  fit.seed = static_cast<uint64_t>(o.seed);
  fit.initial_epoch = start.epoch;
  fit.initial_batch = start.position_in_epoch / o.batch_size;
  fit.augmentation = data::parse_augmentation(o.augment);
  const auto on_step = [&](const parallel::StepReport& r) {
    progress.on_step({r.step, r.epoch, r.batch, r.batches_per_epoch, r.batch_metrics.samples,
                      r.batch_metrics.loss, r.batch_metrics.accuracy});
    if (observer) observer(r);
    return boundary.on_step(r);
  };
  // Validation comes before the epoch's checkpoint, which then records the best so far.
  const auto on_epoch = [&](int64_t epoch, const parallel::Metrics& m) {
    const std::optional<EpochValidation> v = validation.after_epoch(epoch);
    std::optional<runtime::ValidationProgress> shown;
    if (v) {
      shown = runtime::ValidationProgress{v->metrics.loss, v->metrics.accuracy, v->metrics.samples,
                                          v->seconds, v->best};
    }
    progress.on_epoch(epoch, m.loss, m.accuracy, shown);
    if (v) validation.report(*v);
    return boundary.on_epoch(epoch);
  };
  dp.fit(train, fit, on_step, on_epoch);
  return boundary.exit_code();
}

// The steps of an epoch, which a schedule needs before the first step: rank 0 always holds the
// training data, and tells the others its size (a collective, made only for a schedule).
int64_t steps_per_epoch(const TrainerOptions& o, comm::Communicator& world,
                        const data::Dataset& train) {
  if (is_constant(o.lr_schedule)) return 1;
  int64_t samples = world.rank() == 0 ? train.size() : 0;
  world.broadcast(&samples, sizeof samples, 0);
  LOCKSTEP_CHECK(samples > 0, "the training data set is empty");
  return data::batches_per_epoch(samples, o.batch_size, false);
}

void describe_schedule(const LrSchedule& s, int64_t steps_per_epoch) {
  if (is_constant(s)) return;
  std::ostringstream decay;
  if (s.kind == "step") decay << " (x" << s.decay << " at epochs " << lr_steps_text(s.steps) << ")";
  logging::info("lr schedule %s%s, warm-up %lld epochs; %lld steps per epoch", s.kind.c_str(),
                decay.str().c_str(), static_cast<long long>(s.warmup_epochs),
                static_cast<long long>(steps_per_epoch));
}

// profile and trace: the per-step phase table on rank 0 (a collective) and the trace file.
void report_profile(const TrainerOptions& o, comm::Communicator& world) {
  if (o.profile) {
    const parallel::ProfileReport report = parallel::ProfileReport::gather(profiler(), world);
    logging::info("%s", report.format(o.profile_ranks).c_str());
  }
  if (!o.trace.empty() && world.rank() == 0) {
    profiler().write_chrome_trace(o.trace, 0);
    logging::info("trace: %s", o.trace.c_str());
  }
  profiler().disable();  // evaluation is not part of the steps measured
}

}  // namespace

Trainer::Trainer(comm::Communicator& world, const runtime::ProcessInfo& process,
                 TrainerOptions options)
    : world_(world), process_(process), options_(std::move(options)) {
  validate_options(options_);
}

Trainer::Trainer(runtime::Runtime& runtime, TrainerOptions options)
    : Trainer(runtime.world(), runtime.info(), std::move(options)) {}

int Trainer::run() {
  LOCKSTEP_CHECK(!ran_, "Trainer::run: a Trainer runs once; make another for another run");
  ran_ = true;
  const TrainerOptions& o = options_;  // with a resumed checkpoint's settings, once adopted
  const Device device = runtime::bind_device(o.device, process_);
  if (o.profile || !o.trace.empty()) profiler().enable(!o.trace.empty());
  const io::CheckpointTarget target{o.checkpoint, o.checkpoint_dir, o.keep_checkpoints};
  const std::optional<io::Checkpoint> checkpoint = find_resume_point(world_, options_, target);
  validate_lr_schedule(o.lr_schedule, true);  // with the checkpoint's schedule adopted
  validate_validation_options(o);             // with the checkpoint's validate_every adopted
  RunStart run = checkpoint ? resumed_run(o, *checkpoint) : fresh_run(o);
  const int rank = world_.rank();
  io::CheckpointWriter writer(world_, target, checkpoint ? checkpoint->path : "",
                              [rank](int64_t step) {
                                // The LOCKSTEP_FAULT test hook (kill_in_checkpoint).
                                runtime::inject_fault_in_checkpoint(rank, step);
                              });
  const parallel::DataParallelOptions engine = engine_options(o);
  const data::TrainTestData data = load_data(o, engine, rank);
  const TrainingSets sets = training_sets(o, data);
  const int64_t epoch_steps = steps_per_epoch(o, world_, sets.train);
  run.optimizer = scheduled_optimizer(std::move(run.optimizer), o.lr_schedule, epoch_steps,
                                      o.epochs, run.state.step);
  // DataParallel sets the deadline on the communicator it gets. A GPU's is made over the world
  // first, and NCCL's start-up waits for every rank, so the world needs it before; on the CPU
  // the world is the engine's communicator, and DataParallel's setting is the only one.
  if (device.is_cuda()) world_.set_deadline(o.collective_timeout);
  runtime::DeviceCommunicator communicator(world_, device,
                                           runtime::shares_gpu(device, o.device, process_));
  parallel::DataParallel dp(*run.model, communicator.get(), device, engine);
  dp.compile(std::make_unique<nn::CrossEntropyLoss>(), std::move(run.optimizer));
  dp.set_step(run.state.step);
  describe_run(o, world_.size(), device, dp, data, sets, checkpoint);
  describe_schedule(o.lr_schedule, epoch_steps);
  runtime::TrainingProgress progress({rank == 0, runtime::parse_progress_style(o.progress),
                                      o.epochs, o.log_every, o.metrics, checkpoint.has_value(),
                                      run.state.step, run.state.epoch});
  Validation validation(
      o, world_, dp, sets.validation, sets.validation_name,
      checkpoint ? read_best_validation(checkpoint->state.extra) : BestValidation{}, progress);
  StepBoundary boundary(o, world_.size(), dp, writer, progress, validation);
  summary_.resumed_from = checkpoint ? checkpoint->path : std::filesystem::path();
  summary_.first_step = run.state.step;
  summary_.exit_code = fit(o, dp, sets.train, run.state, progress, observer_, validation, boundary);
  summary_.last_step = dp.step();
  summary_.validations = validation.results();
  summary_.last_checkpoint = writer.last_written();
  if (summary_.exit_code != kExitOk) return summary_.exit_code;

  report_profile(o, world_);
  parallel::Metrics test;
  const double before = progress.wall_seconds();
  progress.exclude([&] { test = dp.evaluate(data.test, o.batch_size); });
  progress.on_test(test.loss, test.accuracy, test.samples, progress.wall_seconds() - before);
  if (writer.last_step() >= 0) logging::info("checkpoint: %s", writer.last_written().c_str());
  logging::info("test accuracy %.4f (loss %.4f, %lld samples)", test.accuracy, test.loss,
                static_cast<long long>(test.samples));
  summary_.test = test;
  return kExitOk;
}

}  // namespace lockstep::train
