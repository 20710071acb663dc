// DataParallel: replicas in lockstep. Construction syncs the weights and checks the model;
// train_step and evaluate_batch are one batch on this rank's rows, around a shared forward and
// loss. The loops over data are in data_parallel_loops.cpp.
#include "lockstep/parallel/data_parallel.h"

#include <algorithm>
#include <sstream>
#include <utility>

#include "lockstep/base/error.h"
#include "lockstep/base/profiler.h"
#include "lockstep/data/partition.h"
#include "parallel/gathered_partials.h"
#include "parallel/gradient_buckets.h"
#include "parallel/gradient_reducer.h"

namespace lockstep::parallel {

namespace {

Tensor on_device(const Tensor& t, const Device& device) {
  return t.device() == device ? t : t.to(device);
}

// This rank's rows in one copy each; the passes take views of them.
std::pair<Tensor, Tensor> rows_on_device(const Tensor& inputs, const Tensor& targets,
                                         const Device& device) {
  const ProfileScope phase(Phase::kData);
  return {on_device(inputs, device), on_device(targets, device)};
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
  LOCKSTEP_CHECK(differing.str().empty(), "DataParallel: ranks "
                                              << differing.str()
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

uint64_t model_fingerprint(nn::Model& model) {
  std::string text = model.spec().dump();
  for (nn::Parameter* p : model.parameters()) text += "|" + p->name + to_string(p->value.shape());
  for (nn::Buffer* b : model.buffers()) text += "|" + b->name + to_string(b->value.shape());
  uint64_t hash = 14695981039346656037ull;  // FNV-1a, 64-bit
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

DataParallel::DataParallel(nn::Model& model, comm::Communicator& communicator, Device device,
                           DataParallelOptions options)
    : model_(model),
      communicator_(communicator.host()),
      gradient_communicator_(device.is_cpu() ? communicator.host() : communicator),
      device_(device),
      options_(options) {
  LOCKSTEP_CHECK(options_.micro_batch >= 0,
                 "DataParallel: micro-batch must be 0 (off) or a "
                 "number of rows, found "
                     << options_.micro_batch);
  LOCKSTEP_CHECK(options_.collective_timeout_s >= 0.0,
                 "DataParallel: the collective timeout must be at least 0 seconds (0: none), "
                 "found "
                     << options_.collective_timeout_s);
  LOCKSTEP_CHECK(device_.is_cpu() || gradient_communicator_.moves_device_memory(),
                 "DataParallel: gradients on "
                     << device_.str() << " need a communicator that moves device memory, found the "
                     << gradient_communicator_.name()
                     << " communicator (host memory only); make one with "
                        "comm::make_nccl_communicator(world, device)");
  // From here on a rank that hangs or dies cannot leave its peers waiting forever.
  communicator_.set_deadline(options_.collective_timeout_s);
  gradient_communicator_.set_deadline(options_.collective_timeout_s);
  {
    const comm::ScopedLabel label(communicator_, "model check");
    check_same_model(communicator_, model_fingerprint(model_));
  }
  model_.to(device_);
  // Rank 0's initial weights everywhere: replicas start equal and so stay equal.
  const comm::ScopedLabel label(communicator_, "initial weights");
  const auto broadcast = [this](Tensor& value) {
    Tensor host = value.device().is_cpu() ? value : value.to(Device::cpu());
    communicator_.broadcast(host.data(), static_cast<int64_t>(host.bytes()), 0);
    if (!host.shares_storage(value)) value.copy_from(host);
  };
  for (nn::Parameter* p : model_.parameters()) broadcast(p->value);
  for (nn::Buffer* b : model_.buffers()) broadcast(b->value);
  buckets_ = std::make_unique<GradientBuckets>(model_.parameters(), options_.bucket_bytes, device_);
  reducer_ = make_gradient_reducer(*buckets_, gradient_communicator_, options_.micro_batch);
  for (size_t i = 0; i < model_.size(); ++i) {
    layer_parameters_.push_back(model_.layer(i).parameters());
  }
  loss_totals_ = std::make_unique<nn::LossAccumulator>(device_);
  step_partials_ = std::make_unique<GatheredPartials>(communicator_);
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

std::vector<int64_t> DataParallel::passes_per_rank(int64_t batch_rows) const {
  std::vector<int64_t> passes;
  const int64_t group = std::max<int64_t>(1, options_.micro_batch);
  for (const data::Slice& slice : data::partition_all(batch_rows, communicator_.size(), group)) {
    const int64_t rows = slice.count;
    passes.push_back(
        rows == 0 ? 0 : (rows + reducer_->pass_rows(rows) - 1) / reducer_->pass_rows(rows));
  }
  return passes;
}

nn::LossValue DataParallel::train_step(const Tensor& inputs, const Tensor& targets,
                                       int64_t batch_rows, int64_t first_sample, uint64_t seed) {
  const int64_t rows = inputs.size(0);
  gradient_communicator_.set_step(communicator_.step());  // a gradient timeout names the step
  reducer_->begin_step(rows);
  step_partials_->begin_step(passes_per_rank(batch_rows));
  loss_totals_->clear();
  const auto [x, y] = rows_on_device(inputs, targets, device_);
  std::vector<Tensor> xs, ys;
  const int64_t pass_rows = reducer_->pass_rows(rows);
  for (int64_t begin = 0; begin < rows; begin += pass_rows) {
    const int64_t end = std::min(rows, begin + pass_rows);
    xs.push_back(x.rows(begin, end));
    ys.push_back(y.rows(begin, end));
  }
  // Every rank runs forward and backward, also one without rows (over no passes): BatchNorm
  // gathers its statistics from every rank, and the buckets start at the same layers.
  std::vector<Tensor> outputs;
  {
    const ProfileScope phase(Phase::kForward);
    outputs = model_.forward_passes(xs, {.training = true,
                                         .seed = seed,
                                         .step = static_cast<uint64_t>(step_),
                                         .first_sample = first_sample,
                                         .pass = 0,
                                         .partials = step_partials_.get()});
    output_grads_.resize(outputs.size());
    for (size_t p = 0; p < outputs.size(); ++p) {
      loss_->accumulate(outputs[p], ys[p], output_grads_[p], *loss_totals_);
    }
  }
  {
    // The allreduces overlap backward: each layer's parameters are handed over as soon as its
    // last pass is done.
    const ProfileScope phase(Phase::kBackward);
    model_.backward_passes(
        output_grads_,
        {.pass_grads_done =
             [this](size_t layer) { reducer_->pass_grads_done(layer_parameters_[layer]); },
         .layer_done =
             [this](size_t layer) { reducer_->parameters_final(layer_parameters_[layer]); }});
  }
  // Read once, after the passes: a GPU runs them back to back without the host waiting.
  const nn::LossValue local = loss_totals_->read();
  {
    const ProfileScope phase(Phase::kAllreduceWait);
    reducer_->finish();
  }
  {
    const ProfileScope phase(Phase::kOptimizer);
    optimizer_->step(model_.parameters(), 1.0f / static_cast<float>(batch_rows));
    ++step_;
  }
  return sum_over_ranks(local);
}

nn::LossValue DataParallel::evaluate_batch(const Tensor& inputs, const Tensor& targets,
                                           int64_t first_sample) {
  loss_totals_->clear();
  const auto [x, y] = rows_on_device(inputs, targets, device_);
  // No gradients, so nothing to keep exact: all rows in one pass.
  if (x.size(0) > 0) {
    const ProfileScope phase(Phase::kForward);
    const Tensor output = model_.forward(x, {.training = false,
                                             .seed = 0,
                                             .step = static_cast<uint64_t>(step_),
                                             .first_sample = first_sample});
    loss_->accumulate(output, y, eval_grad_, *loss_totals_);
  }
  return sum_over_ranks(loss_totals_->read());
}

nn::LossValue DataParallel::sum_over_ranks(const nn::LossValue& local) {
  double sums[3] = {local.sum, static_cast<double>(local.rows), static_cast<double>(local.correct)};
  const comm::ScopedLabel label(communicator_, "metrics");
  communicator_.allreduce_sum(sums, 3);
  return {sums[0], static_cast<int64_t>(sums[1]), static_cast<int64_t>(sums[2])};
}

}  // namespace lockstep::parallel
