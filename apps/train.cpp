// train: trains a model with DataParallel on every rank of the job, with checkpoints, exact
// resume, preemption by signal, progress on rank 0 and a JSON-lines metrics log: the command
// line becomes train::TrainerOptions, and train::Trainer runs it.
//   mpirun -np 2 train --model mlp --epochs 2 --checkpoint-dir run --resume auto
#include <boost/program_options.hpp>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <utility>

#include "lockstep/base/error.h"
#include "lockstep/base/exit_codes.h"
#include "lockstep/base/logging.h"
#include "lockstep/runtime/preemption.h"
#include "lockstep/runtime/runtime.h"
#include "lockstep/train/trainer.h"
#include "lockstep/train/trainer_options.h"

namespace po = boost::program_options;
using namespace lockstep;

namespace {

po::options_description describe(train::TrainerOptions& o) {
  po::options_description desc("train options (defaults in parentheses)");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help and exit")
      ("config", po::value<std::string>(),
       "INI file with these options (name = value); the command line wins")
      ("model", po::value(&o.model)->default_value(o.model),
       "mlp, cnn, resnet20, xception, or the path of a model spec .json")
      ("batch-norm", po::value(&o.batch_norm),
       "the statistics of every BatchNorm layer: sync (the whole global batch, gathered from "
       "every rank) or ghost (each micro-batch its own); the spec's mode (sync) when not given")
      ("data", po::value(&o.data)->default_value(o.data),
       "fashion-mnist[:DIR], synthetic:N, npy:X.npy,Y.npy, or a folder of IDX or .npy files")
      ("epochs", po::value(&o.epochs)->default_value(o.epochs),
       "epochs of the whole run (a resume continues up to this)")
      ("batch-size", po::value(&o.batch_size)->default_value(o.batch_size),
       "global batch size, split across ranks")
      ("optimizer", po::value(&o.optimizer)->default_value(o.optimizer),
       "sgd, rmsprop, adam or adamw")
      ("lr", po::value<double>(), "learning rate (0.05 for sgd, 0.001 for the others)")
      ("momentum", po::value<double>(), "SGD momentum (0.9)")
      ("weight-decay", po::value<double>(), "weight decay (0; 0.01 for adamw)")
      ("lr-schedule", po::value(&o.lr_schedule.kind)->default_value(o.lr_schedule.kind),
       "learning rate per step: constant, step (times --lr-decay at each of --lr-steps) or "
       "cosine (down to 0 over the whole run); a resume keeps it unless given here")
      ("lr-steps", po::value<std::string>(),
       "with --lr-schedule step: the epochs after which the rate decays, e.g. 30,60,80")
      ("lr-decay", po::value(&o.lr_schedule.decay)->default_value(o.lr_schedule.decay, "0.1"),
       "with --lr-schedule step: the factor applied at each of --lr-steps")
      ("warmup-epochs",
       po::value(&o.lr_schedule.warmup_epochs)->default_value(o.lr_schedule.warmup_epochs),
       "ramp the rate linearly from lr/(W x steps per epoch) to lr over the first W epochs, "
       "then follow the schedule (Goyal et al. 2017)")
      ("seed", po::value(&o.seed)->default_value(o.seed),
       "seed of the weights, data order and dropout")
      ("augment", po::value(&o.augment)->default_value(o.augment),
       "transforms of every training image, keyed by (seed, epoch, sample): crop (shift by up "
       "to 2 pixels each way, zeros filling), flip (mirror half of them left to right), both "
       "(crop,flip) or none; a resume keeps it unless given here")
      ("validate-every", po::value(&o.validate_every)->default_value(o.validate_every),
       "evaluate after every Nth epoch, on the test split or --validation-split (0: never)")
      ("validation-split", po::value(&o.validation_split),
       "validate on the last fraction F (0 < F < 1) of the training samples instead, which "
       "training then leaves out; a resume keeps it unless given here (none)")
      ("best-checkpoint", po::value(&o.best_checkpoint),
       "keep a copy of the checkpoint with the best validation accuracy so far in this file, "
       "written by rank 0 after each validation that improves on it (none)")
      ("input", po::value(&o.input)->default_value(o.input),
       "scatter (rank 0 reads the data) or sharded (every rank does)")
      ("bucket-mb", po::value(&o.bucket_mb)->default_value(o.bucket_mb),
       "gradient fusion bucket size in MiB")
      ("micro-batch", po::value(&o.micro_batch)->default_value(o.micro_batch),
       "rows per micro-batch: ranks compute whole micro-batches at fixed offsets, so any "
       "number of ranks reaches the same weights; 0: off (faster, equal only within rounding)")
      ("checkpoint", po::value(&o.checkpoint),
       "checkpoint file written at the end of every epoch (none)")
      ("checkpoint-dir", po::value(&o.checkpoint_dir),
       "or a folder of ckpt-<step>.safetensors checkpoints, created if needed (none)")
      ("checkpoint-every", po::value(&o.checkpoint_every)->default_value(o.checkpoint_every),
       "also checkpoint every N steps (0: only per epoch)")
      ("keep-checkpoints", po::value(&o.keep_checkpoints)->default_value(o.keep_checkpoints),
       "checkpoints --checkpoint-dir keeps; older ones go once a new one is in place")
      ("checkpoint-errors", po::value(&o.checkpoint_errors)->default_value(o.checkpoint_errors),
       "when a checkpoint cannot be written: stop (exit code 5) or continue with a warning")
      ("resume", po::value(&o.resume),
       "continue the run saved in this checkpoint, with its model, data, batch size, seed, "
       "optimizer and epochs unless given here; auto: the newest valid checkpoint of "
       "--checkpoint-dir (or --checkpoint), else a fresh start (none)")
      ("max-steps", po::value(&o.max_steps)->default_value(o.max_steps),
       "stop once the run has taken this many steps, with a checkpoint; a resume keeps it "
       "unless given here (0: no limit)")
      ("collective-timeout", po::value(&o.collective_timeout)->default_value(o.collective_timeout),
       "seconds a rank waits in a collective before ending the job (exit code 3)")
      ("metrics", po::value(&o.metrics), "JSON-lines metrics file written by rank 0 (none)")
      ("log-every", po::value(&o.log_every)->default_value(o.log_every), "steps per metrics record")
      ("device", po::value(&o.device.device)->default_value(o.device.device),
       "auto (a GPU when one answers, else the CPU), cpu, cuda (this rank's GPU: local rank "
       "modulo the visible GPUs) or cuda:N")
      ("allow-gpu-sharing", po::bool_switch(&o.device.allow_gpu_sharing),
       "let more ranks of a node than it has GPUs share them")
      ("profile", po::bool_switch(&o.profile),
       "print the mean time per step in data movement, forward, backward, allreduce wait and "
       "optimizer (mean and max over ranks) at the end")
      ("profile-ranks", po::bool_switch(&o.profile_ranks), "with --profile: a row per rank too")
      ("trace", po::value(&o.trace),
       "write rank 0's phases and collectives as a Chrome trace (chrome://tracing, Perfetto)")
      ("progress", po::value(&o.progress)->default_value(o.progress),
       "bar (live, on a terminal), lines (one per epoch) or auto");
  // clang-format on
  return desc;
}

// Whether `name` was set explicitly (on the command line or in --config), not defaulted.
bool given(const po::variables_map& values, const char* name) {
  return values.count(name) && !values[name].defaulted();
}

// The settings a resume adopts from its checkpoint unless given here.
train::GivenSettings given_settings(const po::variables_map& values) {
  train::GivenSettings g;
  g.model = given(values, "model");
  g.data = given(values, "data");
  g.epochs = given(values, "epochs");
  g.batch_size = given(values, "batch-size");
  g.optimizer = given(values, "optimizer");
  g.seed = given(values, "seed");
  g.micro_batch = given(values, "micro-batch");
  g.max_steps = given(values, "max-steps");
  g.lr_schedule = given(values, "lr-schedule");
  g.lr_steps = given(values, "lr-steps");
  g.lr_decay = given(values, "lr-decay");
  g.warmup_epochs = given(values, "warmup-epochs");
  g.augment = given(values, "augment");
  g.validate_every = given(values, "validate-every");
  g.validation_split = given(values, "validation-split");
  return g;
}

// Fills `o` from the command line and --config; returns false when --help was asked for.
bool parse_options(int argc, char** argv, train::TrainerOptions& o) {
  po::options_description desc = describe(o);
  po::variables_map values;
  try {
    // No positional arguments: a stray word is an error, not silently ignored.
    const po::positional_options_description none;
    po::store(po::command_line_parser(argc, argv).options(desc).positional(none).run(), values);
    if (values.count("help")) {
      if (logging::rank() == 0) std::cout << "usage: train [options]\n" << desc << "\n";
      return false;
    }
    if (values.count("config")) {
      const std::string path = values["config"].as<std::string>();
      std::ifstream file(path);
      LOCKSTEP_CHECK(file.good(), "--config: cannot read '" << path << "'");
      po::store(po::parse_config_file(file, desc), values);  // earlier values win
    }
    po::notify(values);
  } catch (const po::error& e) {
    LOCKSTEP_THROW("train: " << e.what() << " (see train --help)");
  }
  const auto optional = [&](const char* name) -> std::optional<double> {
    if (!values.count(name)) return std::nullopt;
    return values[name].as<double>();
  };
  o.lr = optional("lr");
  o.momentum = optional("momentum");
  o.weight_decay = optional("weight-decay");
  if (values.count("lr-steps")) {
    o.lr_schedule.steps = train::parse_lr_steps(values["lr-steps"].as<std::string>());
  }
  o.given = given_settings(values);
  return true;  // the Trainer checks the values
}

}  // namespace

int main(int argc, char** argv) {
  runtime::Runtime rt(&argc, &argv);
  return runtime::run_guarded(rt, [&] {
    runtime::install_preemption_handlers();  // after MPI's start-up, which may set its own
    train::TrainerOptions options;
    if (!parse_options(argc, argv, options)) return kExitOk;
    return train::Trainer(rt, std::move(options)).run();
  });
}
