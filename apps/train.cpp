// train: trains a model on a data set and reports loss and accuracy per epoch.
//   train --model mlp --data fashion-mnist --epochs 2 --optimizer sgd --lr 0.05 --momentum 0.9
#include <boost/program_options.hpp>

#include <chrono>
#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "lockstep/core/error.h"
#include "lockstep/data/data_spec.h"
#include "lockstep/data/idx_dataset.h"
#include "lockstep/data/synthetic.h"
#include "lockstep/io/checkpoint.h"
#include "lockstep/nn/loss.h"
#include "lockstep/nn/sequential.h"
#include "lockstep/optim/optimizer.h"
#include "lockstep/parallel/trainer.h"

namespace po = boost::program_options;
using namespace lockstep;

namespace {

struct TrainOptions {
  std::string model = "mlp";  // built-in name or path of a JSON spec
  std::string data = "fashion-mnist";
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::string optimizer = "sgd";
  double lr = 0.05, momentum = 0.9, weight_decay = 0.0;
  int64_t batch_size = 128, epochs = 2;
  uint64_t seed = 1;
  std::string checkpoint;  // written after every epoch when set
  std::string device = "cpu";
};

// Returns false when --help was asked for.
bool parse_options(int argc, char** argv, TrainOptions& o) {
  po::options_description desc("train options");
  desc.add_options()("help,h", "show this help")
      ("model", po::value(&o.model)->default_value(o.model), "mlp, cnn, or a model spec .json file")
      ("data", po::value(&o.data)->default_value(o.data), "fashion-mnist[:DIR], synthetic:N or npy:INPUTS.npy,LABELS.npy")
      ("data-dir", po::value(&o.data_dir)->default_value(o.data_dir), "folder of the Fashion-MNIST .gz files")
      ("optimizer", po::value(&o.optimizer)->default_value(o.optimizer), "sgd, rmsprop, adam, adamw")
      ("lr", po::value(&o.lr)->default_value(o.lr), "learning rate")
      ("momentum", po::value(&o.momentum)->default_value(o.momentum), "SGD momentum")
      ("weight-decay", po::value(&o.weight_decay)->default_value(o.weight_decay), "weight decay")
      ("batch-size", po::value(&o.batch_size)->default_value(o.batch_size), "global batch size")
      ("epochs", po::value(&o.epochs)->default_value(o.epochs), "passes over the training set")
      ("seed", po::value(&o.seed)->default_value(o.seed), "seed of weights, data order, dropout")
      ("checkpoint", po::value(&o.checkpoint), "checkpoint file written after each epoch")
      ("device", po::value(&o.device)->default_value(o.device), "cpu (cuda in builds with CUDA)");
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, desc), vm);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return false;
  }
  po::notify(vm);
  return true;
}

nlohmann::json load_spec(const std::string& model) {
  if (model == "mlp" || model == "cnn") return nn::builtin_spec(model);
  std::ifstream in(model);
  LOCKSTEP_CHECK(in.good(), "train: --model is neither mlp, cnn nor a readable file: " << model);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    LOCKSTEP_THROW("train: model spec " << model << " is not valid JSON: " << e.what());
  }
}

struct DataSplits {
  data::Dataset train, test;
};

// The training and test sets named by --data. Synthetic data and .npy files have no test
// split of their own: the last sixth of the samples is held out.
DataSplits load_splits(const TrainOptions& o) {
  const data::DataSpec spec = data::parse_data_spec(o.data);
  if (spec.kind == data::DataSpec::Kind::kFashionMnist) {
    const std::filesystem::path dir =
        spec.dir.empty() ? std::filesystem::path(o.data_dir) : spec.dir;
    return {data::load_fashion_mnist(dir, "train"), data::load_fashion_mnist(dir, "test")};
  }
  const data::Dataset all =
      spec.kind == data::DataSpec::Kind::kSynthetic
          ? data::make_synthetic(spec.num_samples, {1, 28, 28}, 10, o.seed)
          : data::load_npy_dataset(spec.inputs_path, spec.labels_path);
  LOCKSTEP_CHECK(all.size() >= 2, "train: --data " << o.data << " has " << all.size()
                                                   << " samples, expected at least 2");
  auto [train, test] = data::split_dataset(all, all.size() - std::max<int64_t>(1, all.size() / 6));
  return {train, test};
}

nlohmann::json optimizer_hyperparameters(const TrainOptions& o) {
  nlohmann::json h = {{"lr", o.lr}};
  if (o.optimizer == "sgd") h["momentum"] = o.momentum;
  if (o.weight_decay != 0.0) h["weight_decay"] = o.weight_decay;
  return h;
}

int run(const TrainOptions& o) {
  const Device device = Device::parse(o.device);
  const DataSplits splits = load_splits(o);
  auto model = nn::build_model(load_spec(o.model), o.seed);
  auto optimizer = optim::make_optimizer(o.optimizer, optimizer_hyperparameters(o));
  nn::CrossEntropyLoss loss;
  parallel::Trainer trainer(*model, loss, *optimizer, device);
  parallel::TrainConfig config{o.batch_size, o.seed, true};

  std::printf("model %s: %lld parameters; train %lld samples, test %lld; batch %lld\n",
              model->name().c_str(), static_cast<long long>(model->parameter_count()),
              static_cast<long long>(splits.train.size()),
              static_cast<long long>(splits.test.size()), static_cast<long long>(o.batch_size));
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    const parallel::Metrics train = trainer.train_epoch(splits.train, epoch, config);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const parallel::Metrics test = trainer.evaluate(splits.test, 1000);
    std::printf("epoch %lld: loss %.4f  accuracy %.4f  test loss %.4f  test accuracy %.4f  "
                "(%.0f samples/s)\n",
                static_cast<long long>(epoch + 1), train.loss, train.accuracy, test.loss,
                test.accuracy, static_cast<double>(train.samples) / seconds);
    if (!o.checkpoint.empty()) {
      io::TrainerState state;
      state.step = trainer.step();
      state.epoch = epoch + 1;
      state.seed = o.seed;
      io::save_checkpoint(o.checkpoint, *model, *optimizer, state);
      std::printf("checkpoint written: %s\n", o.checkpoint.c_str());
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    TrainOptions options;
    if (!parse_options(argc, argv, options)) return 0;
    return run(options);
  } catch (const po::error& e) {
    std::fprintf(stderr, "train: %s (see --help)\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "[rank 0] error: %s\n", e.what());
    return 1;
  }
}
