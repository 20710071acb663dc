// DataParallel: replicas in lockstep. Construction syncs the weights and checks the model;
// run_step is one step on this rank's rows: forward, loss, backward, bucketed gradient
// allreduce, update, metrics summed over ranks. The loops over data are in data_parallel_loops.cpp.
// Every collective runs under the options' deadline and carries a label for timeout reports.
#include "lockstep/parallel/data_parallel.h"

#include <algorithm>

#include <sstream>

#include "lockstep/base/error.h"
#include "lockstep/base/profiler.h"
#include "parallel/gradient_buckets.h"

namespace lockstep::parallel {

namespace {

Tensor on_device(const Tensor& t, const Device& device) {
  return t.device() == device ? t : t.to(device);
}

// Every rank's value of `mine`, in rank order.
std::vector<uint64_t> allgather_u64(comm::Communicator& communicator, uint64_t mine) {
  std::vector<uint64_t> all(static_cast<size_t>(communicator.size()));
  communicator.allgather(&mine, sizeof(mine), all.data());
  return all;
}

void check_same_model(comm::Communicator& communicator, uint64_t fingerprint) {
  const std::vector<uint64_t> all = allgather_u64(communicator, fingerprint);
  std::ostringstream differing;
  for (size_t r = 1; r < all.size(); ++r) {
    if (all[r] != all[0]) differing << (differing.tellp() > 0 ? ", " : "") << r;
  }
  LOCKSTEP_CHECK(differing.str().empty(),
                 "DataParallel: ranks " << differing.str()
                                        << " built a different model than rank 0 (spec or "
                                           "parameter shapes differ); every rank must build "
                                           "the same model");
}

}  // namespace

InputMode parse_input_mode(const std::string& text) {
  if (text == "scatter") return InputMode::kScatter;
  if (text == "sharded") return InputMode::kSharded;
  LOCKSTEP_THROW("input mode: expected scatter or sharded, found '" << text << "'");
}

std::string input_mode_name(InputMode mode) {
  return mode == InputMode::kScatter ? "scatter" : "sharded";
}

uint64_t model_fingerprint(nn::Sequential& model) {
  std::string text = model.spec().dump();
  for (nn::Parameter* p : model.parameters()) text += "|" + p->name + to_string(p->value.shape());
  uint64_t hash = 14695981039346656037ull;  // FNV-1a, 64-bit
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

DataParallel::DataParallel(nn::Sequential& model, comm::Communicator& communicator,
                           Device device, DataParallelOptions options)
    : model_(model), communicator_(communicator), device_(device), options_(options) {
  LOCKSTEP_CHECK(options_.micro_batch >= 0, "DataParallel: micro-batch must be 0 (off) or a "
                                            "number of rows, found " << options_.micro_batch);
  LOCKSTEP_CHECK(options_.collective_timeout_s >= 0.0,
                 "DataParallel: the collective timeout must be at least 0 seconds (0: none), "
                 "found " << options_.collective_timeout_s);
  LOCKSTEP_CHECK(device_.is_cpu() || communicator_.name() != "mpi",
                 "DataParallel: gradients on " << device_.str()
                     << " need a communicator that moves device memory; make one with "
                        "comm::make_nccl_communicator(world, device)");
  // From here on a rank that hangs or dies cannot leave its peers waiting forever.
  communicator_.set_deadline(options_.collective_timeout_s);
  {
    const comm::ScopedLabel label(communicator_, "model check");
    check_same_model(communicator_, model_fingerprint(model_));
  }
  model_.to(device_);
  // Rank 0's initial weights everywhere: replicas start equal and so stay equal.
  const comm::ScopedLabel label(communicator_, "initial weights");
  for (nn::Parameter* p : model_.parameters()) {
    Tensor host = p->value.device().is_cpu() ? p->value : p->value.to(Device::cpu());
    communicator_.broadcast(host.data(), static_cast<int64_t>(host.bytes()), 0);
    if (!host.shares_storage(p->value)) p->value.copy_from(host);
  }
  buckets_ = std::make_unique<GradientBuckets>(model_.parameters(), options_.bucket_bytes,
                                               device_);
  for (size_t i = 0; i < model_.size(); ++i) {
    layer_parameters_.push_back(model_.layer(i).parameters());
  }
  loss_totals_ = std::make_unique<nn::LossAccumulator>(device_);
}

DataParallel::~DataParallel() = default;

void DataParallel::compile(std::unique_ptr<nn::Loss> loss,
                           std::unique_ptr<optim::Optimizer> optimizer) {
  LOCKSTEP_CHECK(loss && optimizer, "DataParallel::compile: needs a loss and an optimizer");
  loss_ = std::move(loss);
  optimizer_ = std::move(optimizer);
}

optim::Optimizer& DataParallel::optimizer() {
  check_compiled("optimizer");
  return *optimizer_;
}

void DataParallel::check_compiled(const char* what) const {
  LOCKSTEP_CHECK(loss_ && optimizer_,
                 "DataParallel::" << what << ": call compile(loss, optimizer) first");
}

nn::LossValue DataParallel::run_step(const Tensor& inputs, const Tensor& targets,
                                     int64_t batch_rows, int64_t first_sample, bool training,
                                     uint64_t seed) {
  nn::ForwardContext context;
  context.training = training;
  context.seed = seed;
  context.step = static_cast<uint64_t>(step_);
  // Training runs micro-batch by micro-batch (DataParallelOptions::micro_batch; this rank's
  // rows start on a micro-batch boundary). Evaluation has no gradients and runs all rows.
  const int64_t rows = inputs.size(0);
  const bool exact = training && options_.micro_batch > 0;
  const int64_t chunk = exact ? options_.micro_batch : std::max<int64_t>(rows, 1);
  // The last backward pass of the step overlaps with the gradient allreduce: each layer's
  // parameters are handed to the buckets as soon as its backward is done.
  const std::function<void(size_t)> on_layer_done = [this](size_t layer) {
    buckets_->parameters_final(layer_parameters_[layer]);
  };
  if (exact) buckets_->clear_accumulators();
  // The loss of each pass is added where it is computed; it is read once, after the loop, so
  // that a GPU runs the passes back to back without the host waiting for each.
  loss_totals_->clear();
  Tensor device_inputs, device_targets;
  {
    // This rank's rows in one copy each; the passes take views of them.
    const ProfileScope phase(Phase::kData);
    device_inputs = on_device(inputs, device_);
    device_targets = on_device(targets, device_);
  }
  for (int64_t begin = 0; begin < rows; begin += chunk) {
    const int64_t end = std::min(rows, begin + chunk);
    const bool last_pass = end == rows;
    context.first_sample = first_sample + begin;
    Tensor output;
    {
      const ProfileScope phase(Phase::kForward);
      output = model_.forward(device_inputs.rows(begin, end), context);
      loss_->accumulate(output, device_targets.rows(begin, end), output_grad_, *loss_totals_);
    }
    if (!training) continue;
    const ProfileScope phase(Phase::kBackward);
    if (last_pass) {
      buckets_->begin_reduction(communicator_,
                                exact ? GradientBuckets::Sum::kAccumulatorsAndLastPass
                                      : GradientBuckets::Sum::kLastPass);
      model_.backward(output_grad_, on_layer_done);
    } else {
      model_.backward(output_grad_);
      buckets_->accumulate();  // only exact mode runs more than one pass
    }
  }
  const nn::LossValue local = loss_totals_->read();
  if (training) {
    if (rows == 0) {  // no backward ran here: contribute nothing, not stale grads
      if (!exact) {
        for (nn::Parameter* p : model_.parameters()) p->grad.fill(0.0f);
      }
      buckets_->begin_reduction(communicator_, exact ? GradientBuckets::Sum::kAccumulators
                                                     : GradientBuckets::Sum::kLastPass);
    }
    {
      const ProfileScope phase(Phase::kAllreduceWait);
      buckets_->finish_reduction();
    }
    const ProfileScope phase(Phase::kOptimizer);
    optimizer_->step(model_.parameters(), 1.0f / static_cast<float>(batch_rows));
    ++step_;
  }
  double sums[3] = {local.sum, static_cast<double>(local.rows),
                    static_cast<double>(local.correct)};
  const comm::ScopedLabel label(communicator_, "metrics");
  communicator_.allreduce_sum(sums, 3);
  return {sums[0], static_cast<int64_t>(sums[1]), static_cast<int64_t>(sums[2])};
}

}  // namespace lockstep::parallel
