// predict: class probabilities of a data set's test split from a checkpoint, computed over
// every rank of the job with DataParallel::predict, written by rank 0 as an .npy file.
//   mpirun -np 2 predict --checkpoint mlp.safetensors --output probabilities.npy
#include <algorithm>
#include <boost/program_options.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "lockstep/data/data_source.h"
#include "lockstep/data/npy.h"
#include "lockstep/io/checkpoint.h"
#include "lockstep/io/load_weights.h"
#include "lockstep/io/run_settings.h"
#include "lockstep/parallel/data_parallel.h"
#include "lockstep/runtime/device_binding.h"
#include "lockstep/runtime/device_communicator.h"
#include "lockstep/runtime/runtime.h"

namespace po = boost::program_options;
using namespace lockstep;

namespace {

struct PredictOptions {
  std::string checkpoint;
  std::string data = "fashion-mnist";  // unless set: the data the checkpoint was trained on
  std::string output;
  int64_t batch_size = 1000;
  int64_t seed = 0;  // unless set: the checkpoint's (it keys synthetic data)
  std::string input = "scatter";
  std::string device = "auto";
  bool allow_gpu_sharing = false;
  double collective_timeout = 300.0;
  po::variables_map given;

  bool set(const char* name) const { return given.count(name) && !given[name].defaulted(); }
};

po::options_description describe(PredictOptions& o) {
  po::options_description desc("predict options (defaults in parentheses)");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help and exit")
      ("config", po::value<std::string>(),
       "INI file with these options (name = value); the command line wins")
      ("checkpoint", po::value(&o.checkpoint)->required(), "checkpoint written by train (required)")
      ("data", po::value(&o.data)->default_value(o.data),
       "data source whose test split is predicted, as for train (the checkpoint's data, else "
       "fashion-mnist)")
      ("output", po::value(&o.output),
       "write the probabilities [samples, classes] to this .npy file (none)")
      ("batch-size", po::value(&o.batch_size)->default_value(o.batch_size),
       "rows per forward pass, split across ranks")
      ("seed", po::value(&o.seed), "seed of synthetic data (the checkpoint's)")
      ("input", po::value(&o.input)->default_value(o.input),
       "scatter or sharded (inputs start on rank 0 either way)")
      ("device", po::value(&o.device)->default_value(o.device),
       "auto (a GPU when one answers, else the CPU), cpu, cuda (this rank's GPU: local rank "
       "modulo the visible GPUs) or cuda:N")
      ("allow-gpu-sharing", po::bool_switch(&o.allow_gpu_sharing),
       "let more ranks of a node than it has GPUs share them")
      ("collective-timeout", po::value(&o.collective_timeout)->default_value(o.collective_timeout),
       "seconds a rank waits in a collective before ending the job (exit code 3)");
  // clang-format on
  return desc;
}

// Fills `o` from the command line and --config; returns false when --help was asked for.
bool parse_options(int argc, char** argv, PredictOptions& o) {
  po::options_description desc = describe(o);
  try {
    // No positional arguments: a stray word is an error, not silently ignored.
    const po::positional_options_description none;
    po::store(po::command_line_parser(argc, argv).options(desc).positional(none).run(), o.given);
    if (o.given.count("help")) {
      if (logging::rank() == 0) std::cout << "usage: predict [options]\n" << desc << "\n";
      return false;
    }
    if (o.given.count("config")) {
      const std::string path = o.given["config"].as<std::string>();
      std::ifstream file(path);
      LOCKSTEP_CHECK(file.good(), "--config: cannot read '" << path << "'");
      po::store(po::parse_config_file(file, desc), o.given);
    }
    po::notify(o.given);
  } catch (const po::error& e) {
    LOCKSTEP_THROW("predict: " << e.what() << " (see predict --help)");
  }
  LOCKSTEP_CHECK(o.batch_size >= 1, "--batch-size must be at least 1, found " << o.batch_size);
  LOCKSTEP_CHECK(o.seed >= 0, "--seed must be at least 0, found " << o.seed);
  LOCKSTEP_CHECK(
      o.collective_timeout > 0 && std::isfinite(o.collective_timeout),
      "--collective-timeout must be a positive number of seconds, found " << o.collective_timeout);
  parallel::parse_input_mode(o.input);
  return true;
}

// Row-wise softmax of logits [N, C], each row shifted by its maximum so exp cannot overflow.
Tensor softmax_rows(const Tensor& logits) {
  const int64_t rows = logits.size(0), classes = logits.size(1);
  Tensor probabilities = Tensor::empty(logits.shape());
  const float* in = logits.data();
  float* out = probabilities.data();
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = in + r * classes;
    float* p = out + r * classes;
    const float top = *std::max_element(x, x + classes);
    double sum = 0.0;
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(x[c] - top));
    for (int64_t c = 0; c < classes; ++c) {
      p[c] = static_cast<float>(std::exp(static_cast<double>(x[c] - top)) / sum);
    }
  }
  return probabilities;
}

int64_t argmax_row(const float* row, int64_t n) { return std::max_element(row, row + n) - row; }

// Fraction of rows whose largest output is the label (class ids [N] or target rows [N, C]).
std::optional<double> accuracy(const Tensor& outputs, const Tensor& labels) {
  const int64_t rows = outputs.size(0), classes = outputs.size(1);
  const bool ids = labels.dim() == 1;
  if (rows == 0 || (!ids && (labels.dim() != 2 || labels.size(1) != classes))) return {};
  int64_t correct = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t predicted = argmax_row(outputs.data() + r * classes, classes);
    const int64_t label = ids ? static_cast<int64_t>(labels.data()[r])
                              : argmax_row(labels.data() + r * classes, classes);
    correct += predicted == label;
  }
  return static_cast<double>(correct) / static_cast<double>(rows);
}

int predict(runtime::Runtime& rt, PredictOptions& o) {
  const runtime::ProcessInfo& info = rt.info();
  const Device device = runtime::bind_device({o.device, o.allow_gpu_sharing}, info);
  if (!o.output.empty()) {
    const std::filesystem::path folder = std::filesystem::absolute(o.output).parent_path();
    LOCKSTEP_CHECK(std::filesystem::is_directory(folder),
                   "--output: folder '" << folder.string() << "' does not exist");
  }
  const io::Checkpoint checkpoint = io::read_checkpoint(o.checkpoint);  // every rank
  std::unique_ptr<nn::Model> model = io::load_model(checkpoint);
  const std::optional<std::string> trained_on = io::read_run_settings(checkpoint.state.extra).data;
  if (!o.set("data") && trained_on) o.data = *trained_on;
  if (!o.set("seed")) o.seed = static_cast<int64_t>(checkpoint.state.seed);
  LOCKSTEP_CHECK(model->output_shape().size() == 1,
                 "predict: model '" << model->name() << "' gives outputs of shape "
                                    << to_string(model->output_shape())
                                    << " per sample, expected [classes]");
  data::Dataset test;  // rank 0 holds the inputs; DataParallel::predict scatters them
  if (info.rank == 0) {
    test =
        data::load_train_test(o.data, data::kDefaultFashionMnistDir, static_cast<uint64_t>(o.seed))
            .test;
  }
  parallel::DataParallelOptions options;
  options.input = parallel::parse_input_mode(o.input);
  options.collective_timeout_s = o.collective_timeout;
  rt.world().set_deadline(o.collective_timeout);  // NCCL's start-up waits for every rank too
  const runtime::DeviceRequest request{o.device, o.allow_gpu_sharing};
  runtime::DeviceCommunicator communicator(rt.world(), device,
                                           runtime::shares_gpu(device, request, info));
  parallel::DataParallel dp(*model, communicator.get(), device, options);
  logging::info("model %s from '%s' (step %lld); data %s: %lld test samples; %d ranks",
                model->name().c_str(), o.checkpoint.c_str(),
                static_cast<long long>(checkpoint.state.step), o.data.c_str(),
                static_cast<long long>(test.size()), info.size);
  const Tensor logits = dp.predict(info.rank == 0 ? test.inputs() : Tensor(), o.batch_size);
  if (info.rank != 0) return kExitOk;
  const Tensor probabilities = softmax_rows(logits);
  if (!o.output.empty()) {
    data::save_npy(o.output, probabilities);
    logging::info("probabilities %s written to %s", to_string(probabilities.shape()).c_str(),
                  o.output.c_str());
  }
  if (const std::optional<double> acc = accuracy(logits, test.labels())) {
    logging::info("accuracy %.4f on %lld samples", *acc, static_cast<long long>(test.size()));
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  runtime::Runtime rt(&argc, &argv);
  return runtime::run_guarded(rt, [&] {
    PredictOptions options;
    if (!parse_options(argc, argv, options)) return kExitOk;
    return predict(rt, options);
  });
}
