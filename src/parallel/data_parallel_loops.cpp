// DataParallel's loops over data: fit (epochs of shuffled, optionally augmented global
// batches), evaluate (every row in order) and predict (scatter inputs, forward, gather outputs
// to rank 0). fit checks that ranks agree on the training before the first step and on the
// step at every step.
#include <algorithm>

#include "lockstep/base/error.h"
#include "lockstep/base/profiler.h"
#include "lockstep/data/partition.h"
#include "lockstep/data/sampler.h"
#include "lockstep/parallel/data_parallel.h"
#include "lockstep/runtime/fault_injection.h"
#include "parallel/agreement.h"
#include "parallel/data_shape.h"
#include "parallel/gradient_buckets.h"
#include "parallel/local_batch.h"
#include "parallel/row_exchange.h"

namespace lockstep::parallel {

namespace {

Metrics to_metrics(const nn::LossValue& total) {
  Metrics m;
  m.samples = total.rows;
  if (total.rows > 0) {
    m.loss = total.sum / static_cast<double>(total.rows);
    m.accuracy = static_cast<double>(total.correct) / static_cast<double>(total.rows);
  }
  return m;
}

void accumulate(nn::LossValue& total, const nn::LossValue& part) {
  total.sum += part.sum;
  total.rows += part.rows;
  total.correct += part.correct;
}

void check_fits_model(const DataShape& shape, nn::Model& model, const char* what) {
  LOCKSTEP_CHECK(shape.sample_shape == model.input_shape(),
                 "DataParallel::" << what << ": samples have shape "
                                  << to_string(shape.sample_shape) << ", the model " << model.name()
                                  << " expects " << to_string(model.input_shape()));
}

void check_fit_options(const FitOptions& o) {
  LOCKSTEP_CHECK(o.batch_size > 0,
                 "DataParallel::fit: batch size must be positive, found " << o.batch_size);
  LOCKSTEP_CHECK(o.epochs >= 0 && o.initial_epoch >= 0 && o.initial_batch >= 0,
                 "DataParallel::fit: epochs " << o.epochs << ", initial epoch " << o.initial_epoch
                                              << " and initial batch " << o.initial_batch
                                              << " must not be negative");
}

// Names the training step in timeout reports while fit runs, and no step afterwards.
class StepContext {
 public:
  explicit StepContext(comm::Communicator& communicator) : communicator_(communicator) {}
  ~StepContext() { communicator_.set_step(-1); }
  StepContext(const StepContext&) = delete;
  StepContext& operator=(const StepContext&) = delete;

 private:
  comm::Communicator& communicator_;
};

// Before the first step: every rank must be about to run the same training on the same
// gradient layout, or the first allreduce would mix unrelated buffers.
void check_training_agrees(comm::Communicator& communicator, const FitOptions& o,
                           const DataParallelOptions& engine, int64_t step, int64_t batches,
                           const GradientBuckets& buckets) {
  const comm::ScopedLabel label(communicator, "training check");
  check_agreement(
      communicator,
      "DataParallel::fit: ranks disagree on the training they are about to run (every rank "
      "must call fit alike, from the same step, with the same model and options)",
      {{"step", step},
       {"epochs", o.epochs},
       {"initial epoch", o.initial_epoch},
       {"initial batch", o.initial_batch},
       {"batches per epoch", batches},
       {"batch size", o.batch_size},
       {"seed", static_cast<int64_t>(o.seed)},
       {"shuffle", o.shuffle ? 1 : 0},
       {"augmentation (crop 1, flip 2)",
        (o.augmentation.crop ? 1 : 0) + (o.augmentation.flip ? 2 : 0)},
       {"micro-batch", engine.micro_batch},
       {"input mode", engine.input == InputMode::kScatter ? 0 : 1},
       {"gradient elements", buckets.total_elements()},
       {"gradient buckets", static_cast<int64_t>(buckets.size())},
       {"gradient bucket layout (hash of the element counts)",
        hash_values(buckets.bucket_elements())}});
}

// At every step boundary: a rank that skipped or repeated a step stops every rank here.
void check_same_step(comm::Communicator& communicator, int64_t step, int64_t epoch, int64_t batch,
                     int64_t rows) {
  const comm::ScopedLabel label(communicator, "step check");
  check_agreement(communicator,
                  "DataParallel::fit: ranks are out of step at the start of a step (each "
                  "rank must run the same steps)",
                  {{"step", step}, {"epoch", epoch}, {"batch", batch}, {"rows", rows}});
}

}  // namespace

Metrics DataParallel::fit(const data::Dataset& data, const FitOptions& options,
                          const StepCallback& on_step, const EpochCallback& on_epoch) {
  check_compiled("fit");
  check_fit_options(options);
  runtime::fault_spec();  // a malformed LOCKSTEP_FAULT fails every rank here, before any step
  const DataShape shape = [&] {
    const comm::ScopedLabel label(communicator_, "data shape");
    return agree_on_data_shape(communicator_, data, options_.input);
  }();
  LOCKSTEP_CHECK(shape.samples > 0, "DataParallel::fit: the training data set is empty");
  check_fits_model(shape, model_, "fit");
  data::check_augmentable(options.augmentation, shape.sample_shape);
  const int64_t batches = data::batches_per_epoch(shape.samples, options.batch_size, false);
  LOCKSTEP_CHECK(options.initial_batch <= batches, "DataParallel::fit: initial batch "
                                                       << options.initial_batch << " is past the "
                                                       << batches << " batches of an epoch");
  check_training_agrees(communicator_, options, options_, step_, batches, *buckets_);
  const StepContext step_context(communicator_);
  LocalBatch batch(communicator_, options_.input, std::max<int64_t>(1, options_.micro_batch),
                   device_);
  Metrics last;
  for (int64_t epoch = options.initial_epoch; epoch < options.epochs; ++epoch) {
    const std::vector<int64_t> order =
        data::global_order(shape.samples, options.seed, epoch, options.shuffle);
    nn::LossValue total;
    const int64_t first = epoch == options.initial_epoch ? options.initial_batch : 0;
    for (int64_t b = first; b < batches; ++b) {
      const std::span<const int64_t> rows = data::batch_rows(order, b, options.batch_size, false);
      const int64_t step = step_ + 1;  // counted from 1, as StepReport::step
      communicator_.set_step(step);
      profiler().begin_step(step);
      runtime::inject_fault_at_step(communicator_.rank(), step);
      check_same_step(communicator_, step, epoch, b, static_cast<int64_t>(rows.size()));
      {
        const comm::ScopedLabel label(communicator_, "batch rows");
        const ProfileScope phase(Phase::kData);
        batch.load(data, shape, rows);
        // The next batch of the epoch moves while this step computes (scatter mode).
        if (b + 1 < batches) {
          batch.prefetch(data, shape, data::batch_rows(order, b + 1, options.batch_size, false));
        }
        // Into this batch's buffers, while the next one's scatter is under way.
        batch.augment(options.augmentation, rows, options.seed, epoch);
      }
      const nn::LossValue value =
          train_step(batch.inputs(), batch.targets(), static_cast<int64_t>(rows.size()),
                     batch.slice().offset, options.seed);
      profiler().end_step();
      accumulate(total, value);
      if (on_step && on_step({step_, epoch, b, batches, to_metrics(value)}) == FitControl::kStop) {
        return to_metrics(total);
      }
    }
    last = to_metrics(total);
    if (on_epoch && on_epoch(epoch, last) == FitControl::kStop) return last;
  }
  return last;
}

Metrics DataParallel::evaluate(const data::Dataset& data, int64_t batch_size) {
  check_compiled("evaluate");
  LOCKSTEP_CHECK(batch_size > 0,
                 "DataParallel::evaluate: batch size must be positive, found " << batch_size);
  const comm::ScopedLabel label(communicator_, "evaluate");
  const DataShape shape = agree_on_data_shape(communicator_, data, options_.input);
  check_fits_model(shape, model_, "evaluate");
  const std::vector<int64_t> order = data::global_order(shape.samples, 0, 0, false);
  LocalBatch batch(communicator_, options_.input, std::max<int64_t>(1, options_.micro_batch),
                   device_);
  nn::LossValue total;
  const int64_t batches = data::batches_per_epoch(shape.samples, batch_size, false);
  for (int64_t b = 0; b < batches; ++b) {
    const std::span<const int64_t> rows = data::batch_rows(order, b, batch_size, false);
    batch.load(data, shape, rows);
    accumulate(total, evaluate_batch(batch.inputs(), batch.targets(), batch.slice().offset));
  }
  return to_metrics(total);
}

Tensor DataParallel::predict(const Tensor& inputs, int64_t batch_size) {
  LOCKSTEP_CHECK(batch_size > 0,
                 "DataParallel::predict: batch size must be positive, found " << batch_size);
  const comm::ScopedLabel label(communicator_, "predict");
  DataShape root;
  if (communicator_.rank() == 0) {
    LOCKSTEP_CHECK(inputs.defined() && inputs.dim() >= 1 && inputs.device().is_cpu(),
                   "DataParallel::predict: rank 0 needs CPU inputs [batch, ...], found shape "
                       << to_string(inputs.shape()) << " on " << inputs.device().str());
    root = {inputs.size(0), Shape(inputs.shape().begin() + 1, inputs.shape().end()), {}};
  }
  const DataShape shape = broadcast_data_shape(communicator_, root);
  check_fits_model(shape, model_, "predict");
  const Shape output_shape = model_.output_shape();
  const int64_t output_elements = shape_numel(output_shape);
  Tensor outputs;  // rank 0 only: [B, ...output_shape]
  if (communicator_.rank() == 0) reuse_or_allocate(outputs, shape.samples, output_shape);

  RowExchange exchange(communicator_);
  Tensor local_inputs;
  const nn::ForwardContext eval_mode;
  for (int64_t begin = 0; begin < shape.samples; begin += batch_size) {
    const int64_t rows = std::min(batch_size, shape.samples - begin);
    const data::Slice slice = data::partition(rows, communicator_.size(), communicator_.rank());
    reuse_or_allocate(local_inputs, slice.count, shape.sample_shape, device_);
    const bool root_rank = communicator_.rank() == 0;
    exchange.scatter(root_rank ? inputs.rows(begin, begin + rows).data() : nullptr, rows,
                     shape.sample_elements(), local_inputs.data());
    const Tensor local_device =
        local_inputs.device() == device_ ? local_inputs : local_inputs.to(device_);
    Tensor local_outputs = model_.forward(local_device, eval_mode);
    if (!local_outputs.device().is_cpu()) local_outputs = local_outputs.to(Device::cpu());
    exchange.gather(local_outputs.data(), rows, output_elements,
                    root_rank ? outputs.rows(begin, begin + rows).data() : nullptr);
  }
  return outputs;
}

}  // namespace lockstep::parallel
