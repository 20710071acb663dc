// Shared checks of optimizer hyperparameters and a strict reader of their JSON form, so that
// every optimizer rejects bad values and unknown keys with the same kind of message.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace lockstep::optim::detail {

// Each throws lockstep::Error naming `who` (the optimizer), `what` and the value found.
void check_learning_rate(const char* who, float lr);                      // finite, > 0
void check_positive(const char* who, const char* what, float value);      // finite, > 0
void check_non_negative(const char* who, const char* what, float value);  // finite, >= 0
void check_decay_rate(const char* who, const char* what, float value);    // in [0, 1)

// Reads hyperparameters from a JSON object: a key that is absent keeps its default; a key
// of the wrong type, or one that no read asked for (checked by finish()), is an error.
class HyperparameterReader {
 public:
  HyperparameterReader(std::string optimizer, const nlohmann::json& json);

  // Sets `value` from `key` when present; the number must be finite and fit a float.
  void read(const char* key, float& value);
  void read(const char* key, bool& value);
  // Throws naming every key that no read() asked for, and the keys this optimizer knows.
  void finish() const;

 private:
  const nlohmann::json* find(const char* key);

  std::string optimizer_;
  const nlohmann::json& json_;
  std::set<std::string> known_;
};

}  // namespace lockstep::optim::detail
