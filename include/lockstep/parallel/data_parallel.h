// DataParallel: the seed's multi_gpu_model done with processes. Every rank holds a replica
// of the model; each global batch is split by the partition arithmetic, every rank runs its
// rows, outputs are concatenated on rank 0 (predict) and gradients are summed across ranks
// in fusion buckets (fit), so that every replica takes the same step as one process would.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lockstep/base/device.h"
#include "lockstep/comm/communicator.h"
#include "lockstep/data/augment.h"
#include "lockstep/data/dataset.h"
#include "lockstep/nn/loss.h"
#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"
#include "lockstep/tensor/tensor.h"

namespace lockstep::parallel {

class GradientBuckets;
class GradientReducer;
class GatheredPartials;

// Loss and accuracy over `samples` rows, reduced across ranks: loss is the mean of the
// per-sample losses, accuracy the fraction of rows whose argmax matches the label.
struct Metrics {
  double loss = 0.0;
  double accuracy = 0.0;
  int64_t samples = 0;
};

// Where a step's rows come from.
enum class InputMode {
  kScatter,  // rank 0 holds the data set and scatters each batch (MPI_Scatterv)
  kSharded,  // every rank holds its own copy and reads its rows itself
};
InputMode parse_input_mode(const std::string& text);  // "scatter" | "sharded"
std::string input_mode_name(InputMode mode);          // "scatter" | "sharded"

struct DataParallelOptions {
  InputMode input = InputMode::kScatter;
  int64_t bucket_bytes = 25 << 20;  // fusion bucket size (gradients packed per allreduce)
  // Training computes every global batch in micro-batches of this many rows, at fixed
  // offsets (0, m, 2m, ...) whatever the number of ranks, and ranks hold whole micro-batches.
  // Each row then meets the same arithmetic on any world size, and gradients are summed in
  // double: N ranks reach the weights of one process bit for bit (given the same BLAS
  // thread count per rank). Larger is faster per row, smaller balances ranks better.
  // 0 turns this off: each rank runs its rows (B/N + (r < B%N)) at once and gradients are
  // summed in float — faster, equal to one process only within rounding, which long runs
  // amplify.
  int64_t micro_batch = 16;
  // Every collective the engine issues must complete within this many seconds, else the
  // rank reports the operation it waited on and aborts the job with exit code
  // kExitCollectiveTimeout (a hung rank never leaves the job running). 0: no deadline.
  // The constructor sets it on the communicator (Communicator::set_deadline), where it stays.
  double collective_timeout_s = 300.0;
};

// Where an epoch loop starts (a resumed run starts mid-epoch) and how far it goes.
struct FitOptions {
  int64_t epochs = 1;
  int64_t batch_size = 128;  // global batch
  uint64_t seed = 1;
  bool shuffle = true;
  int64_t initial_epoch = 0;
  int64_t initial_batch = 0;  // batches of initial_epoch already done
  // Transforms of each training row (never of evaluate's or predict's), keyed by (seed, epoch,
  // global sample id): applied to this rank's rows on the host, before they go to the device.
  data::Augmentation augmentation;
};

// What fit reports after every step (on every rank; metrics already reduced across ranks).
struct StepReport {
  int64_t step = 0;   // optimizer steps taken so far, this one included
  int64_t epoch = 0;  // 0-based
  int64_t batch = 0;  // 0-based index of this batch in its epoch
  int64_t batches_per_epoch = 0;
  Metrics batch_metrics;  // this step's global batch
};
// What a callback tells fit: go on, or end training at this step (or epoch) boundary. Every
// rank must decide alike (a decision that depends on one rank is agreed by a collective
// first), or the ranks fall out of step.
enum class FitControl { kContinue, kStop };
using StepCallback = std::function<FitControl(const StepReport&)>;
// Called after every epoch with the epoch's training metrics.
using EpochCallback = std::function<FitControl(int64_t epoch, const Metrics&)>;

class DataParallel {
 public:
  // Borrows `model` (which must outlive this) and `communicator`. Moves the parameters to
  // `device`, broadcasts rank 0's weights, and checks that every rank built the same model
  // (a hash of the spec and parameter shapes): a mismatch is an Error on every rank.
  DataParallel(nn::Model& model, comm::Communicator& communicator, Device device,
               DataParallelOptions options = {});
  ~DataParallel();

  // Keras's compile: the loss and optimizer used by fit and evaluate.
  void compile(std::unique_ptr<nn::Loss> loss, std::unique_ptr<optim::Optimizer> optimizer);

  // Trains over `data` (on rank 0 only in scatter mode — other ranks may pass an empty
  // Dataset — or on every rank in sharded mode). Returns the metrics of the last epoch. After
  // every step `on_step`, after every epoch `on_epoch`, may return FitControl::kStop: fit then
  // returns at once, with the metrics of the epoch so far when it stops within one.
  // Before the first step the ranks check that they agree on the step, the epochs and their
  // length, the options (the augmentation included; an enabled one needs samples [C, H, W])
  // and the gradient bucket layout; at the start of every step, on the
  // step, epoch and batch. A mismatch is an Error on every rank naming what differs, before
  // any gradient is reduced. Each step starts with the LOCKSTEP_FAULT test hook
  // (runtime::inject_fault_at_step).
  Metrics fit(const data::Dataset& data, const FitOptions& options,
              const StepCallback& on_step = {}, const EpochCallback& on_epoch = {});

  // Loss and accuracy over every row of `data`, in order (data placed as for fit).
  Metrics evaluate(const data::Dataset& data, int64_t batch_size);

  // Rank 0 passes inputs [B, ...]; every rank must call. Rank 0 gets [B, ...outputs] in input
  // order; other ranks get an undefined Tensor. Runs in chunks of batch_size rows.
  Tensor predict(const Tensor& inputs, int64_t batch_size);

  nn::Model& model() { return model_; }
  optim::Optimizer& optimizer();
  comm::Communicator& communicator() { return communicator_; }
  int64_t step() const { return step_; }
  void set_step(int64_t step) { step_ = step; }
  const DataParallelOptions& options() const { return options_; }

 private:
  // One training step on this rank's rows (starting at row `first_sample` of a global batch
  // of `batch_rows` rows): forward, loss, backward, gradients summed over ranks, update.
  // Returns the step's metrics summed over ranks.
  nn::LossValue train_step(const Tensor& inputs, const Tensor& targets, int64_t batch_rows,
                           int64_t first_sample, uint64_t seed);
  // Forward and loss in eval mode on this rank's rows of an evaluation batch; returns the
  // metrics summed over ranks.
  nn::LossValue evaluate_batch(const Tensor& inputs, const Tensor& targets, int64_t first_sample);
  // How many passes each rank runs in a training step of `batch_rows` rows.
  std::vector<int64_t> passes_per_rank(int64_t batch_rows) const;
  // Loss sum, rows and correct rows, each summed over every rank.
  nn::LossValue sum_over_ranks(const nn::LossValue& local);
  void check_compiled(const char* what) const;

  nn::Model& model_;
  // Collectives on host memory (checks, weights at start, batches, metrics): the given
  // communicator's host().
  comm::Communicator& communicator_;
  // Gradient sums: the given communicator for a GPU (it moves device memory), its host() for
  // the CPU.
  comm::Communicator& gradient_communicator_;
  Device device_;
  DataParallelOptions options_;
  std::unique_ptr<nn::Loss> loss_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  std::unique_ptr<GradientBuckets> buckets_;
  std::unique_ptr<GradientReducer> reducer_;  // exact or fast (options_.micro_batch)
  std::vector<std::vector<nn::Parameter*>> layer_parameters_;  // by layer index
  std::vector<Tensor> output_grads_;                  // per pass of a step; reused across steps
  Tensor eval_grad_;                                  // the loss gradient evaluation drops; reused
  std::unique_ptr<nn::LossAccumulator> loss_totals_;  // a step's loss, summed on device_
  std::unique_ptr<GatheredPartials> step_partials_;   // BatchNorm's per-pass sums, all ranks
  int64_t step_ = 0;
};

// A 64-bit hash of a model's spec and parameter names and shapes (FNV-1a), equal on every
// rank that built the same model.
uint64_t model_fingerprint(nn::Model& model);

}  // namespace lockstep::parallel
