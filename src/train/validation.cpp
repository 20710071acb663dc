// Validation: the held-out split, the evaluation every N epochs, the best accuracy so far and
// where checkpoints keep it.
#include "train/validation.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "lockstep/base/error.h"
#include "lockstep/base/logging.h"

namespace lockstep::train {

namespace {

constexpr const char* kBestAccuracy = "best_validation_accuracy";
constexpr const char* kBestEpoch = "best_validation_epoch";

}  // namespace

void record_best_validation(nlohmann::json& extra, const BestValidation& best) {
  if (!best.any()) return;
  extra[kBestAccuracy] = best.accuracy;
  extra[kBestEpoch] = best.epoch;
}

BestValidation read_best_validation(const nlohmann::json& extra) {
  if (!extra.is_object() || !extra.contains(kBestAccuracy) || !extra.contains(kBestEpoch))
    return {};
  const nlohmann::json& accuracy = extra[kBestAccuracy];
  const nlohmann::json& epoch = extra[kBestEpoch];
  if (!accuracy.is_number() || !epoch.is_number_integer()) return {};
  if (epoch.is_number_unsigned() && epoch.get<uint64_t>() > INT64_MAX) return {};
  const double value = accuracy.get<double>();
  if (!(value >= 0.0 && value <= 1.0) || epoch.get<int64_t>() < 1) return {};
  return {value, epoch.get<int64_t>()};
}

TrainingSets training_sets(const TrainerOptions& o, const data::TrainTestData& data) {
  if (o.validation_split == 0) return {data.train, data.test, "the test split"};
  const int64_t samples = data.train.size();
  if (samples == 0) return {};  // a rank that holds no data
  const auto held = std::max<int64_t>(
      1, static_cast<int64_t>(std::llround(o.validation_split * static_cast<double>(samples))));
  LOCKSTEP_CHECK(held < samples, "--validation-split " << o.validation_split << " holds out "
                                                       << held << " of the " << samples
                                                       << " training samples; none would be left "
                                                          "to train on");
  auto [train, validation] = data::split_dataset(data.train, samples - held);
  return {std::move(train), std::move(validation), "the held-out training data"};
}

Validation::Validation(const TrainerOptions& options, comm::Communicator& world,
                       parallel::DataParallel& engine, const data::Dataset& set,
                       std::string set_name, BestValidation best,
                       runtime::TrainingProgress& progress)
    : options_(options),
      engine_(engine),
      set_(set),
      set_name_(std::move(set_name)),
      best_(best),
      progress_(progress),
      best_writer_(world, io::CheckpointTarget{options.best_checkpoint, {}, 1}) {}

std::optional<EpochValidation> Validation::after_epoch(int64_t epoch) {
  if (options_.validate_every == 0 || (epoch + 1) % options_.validate_every != 0) {
    return std::nullopt;
  }
  EpochValidation result;
  result.epoch = epoch + 1;
  const double before = progress_.wall_seconds();
  progress_.exclude([&] { result.metrics = engine_.evaluate(set_, options_.batch_size); });
  result.seconds = progress_.wall_seconds() - before;
  result.best = best_.improved_by(result.metrics.accuracy);
  if (result.best) best_ = {result.metrics.accuracy, result.epoch};
  results_.push_back(result);
  return result;
}

void Validation::report(const EpochValidation& v) const {
  logging::info(
      "validation after epoch %lld: accuracy %.4f (loss %.4f, %lld samples of %s); "
      "best %.4f after epoch %lld",
      static_cast<long long>(v.epoch), v.metrics.accuracy, v.metrics.loss,
      static_cast<long long>(v.metrics.samples), set_name_.c_str(), best_.accuracy,
      static_cast<long long>(best_.epoch));
}

}  // namespace lockstep::train
