// Hyperparameter checks and the strict JSON reader shared by the optimizers.
#include "optim/hyperparameters.h"

#include <cmath>
#include <limits>

#include "lockstep/base/error.h"

namespace lockstep::optim::detail {

void check_learning_rate(const char* who, float lr) {
  LOCKSTEP_CHECK(std::isfinite(lr) && lr > 0.0f,
                 who << ": learning rate must be a finite number > 0, found " << lr);
}

void check_positive(const char* who, const char* what, float value) {
  LOCKSTEP_CHECK(std::isfinite(value) && value > 0.0f,
                 who << ": " << what << " must be a finite number > 0, found " << value);
}

void check_non_negative(const char* who, const char* what, float value) {
  LOCKSTEP_CHECK(std::isfinite(value) && value >= 0.0f,
                 who << ": " << what << " must be a finite number >= 0, found " << value);
}

void check_decay_rate(const char* who, const char* what, float value) {
  // Written so that NaN fails too.
  LOCKSTEP_CHECK(value >= 0.0f && value < 1.0f,
                 who << ": " << what << " must be in [0, 1), found " << value);
}

HyperparameterReader::HyperparameterReader(std::string optimizer, const nlohmann::json& json)
    : optimizer_(std::move(optimizer)), json_(json) {
  LOCKSTEP_CHECK(json_.is_object() || json_.is_null(),
                 optimizer_ << ": hyperparameters must be a JSON object, found "
                            << json_.type_name() << " " << json_.dump());
}

const nlohmann::json* HyperparameterReader::find(const char* key) {
  known_.insert(key);
  if (!json_.is_object()) return nullptr;
  const auto it = json_.find(key);
  return it == json_.end() ? nullptr : &*it;
}

void HyperparameterReader::read(const char* key, float& value) {
  const nlohmann::json* entry = find(key);
  if (entry == nullptr) return;
  LOCKSTEP_CHECK(entry->is_number(), optimizer_ << ": hyperparameter \"" << key
                                                << "\" must be a number, found "
                                                << entry->type_name() << " " << entry->dump());
  const double number = entry->get<double>();
  LOCKSTEP_CHECK(
      std::isfinite(number) && std::fabs(number) <= double{std::numeric_limits<float>::max()},
      optimizer_ << ": hyperparameter \"" << key << "\" must be a finite float, found "
                 << entry->dump());
  value = static_cast<float>(number);
}

void HyperparameterReader::read(const char* key, bool& value) {
  const nlohmann::json* entry = find(key);
  if (entry == nullptr) return;
  LOCKSTEP_CHECK(entry->is_boolean(), optimizer_ << ": hyperparameter \"" << key
                                                 << "\" must be true or false, found "
                                                 << entry->type_name() << " " << entry->dump());
  value = entry->get<bool>();
}

void HyperparameterReader::finish() const {
  if (!json_.is_object()) return;
  std::string unknown;
  for (const auto& item : json_.items()) {
    if (known_.count(item.key()) != 0) continue;
    unknown += (unknown.empty() ? "\"" : ", \"") + item.key() + "\"";
  }
  if (unknown.empty()) return;
  std::string known;
  for (const std::string& key : known_) known += (known.empty() ? "" : ", ") + key;
  LOCKSTEP_THROW(optimizer_ << ": unknown hyperparameter " << unknown
                            << "; expected keys: " << known);
}

}  // namespace lockstep::optim::detail
