// LayerSpecReader: reads the fields of one layer entry of a model spec, with errors that name
// the layer's index, its type and the field, and a final check that no field went unread.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

namespace lockstep::nn::detail {

class LayerSpecReader {
 public:
  // Checks that `entry` is an object with a string "type".
  LayerSpecReader(const nlohmann::json& entry, size_t index);

  const std::string& type() const { return type_; }
  size_t index() const { return index_; }
  // "model spec: layers[3] (Conv2D)", the prefix of every error about this entry.
  std::string where() const;

  bool has(const std::string& field) const { return entry_.contains(field); }
  // A required integer > 0.
  int64_t positive_int(const std::string& field);
  // An integer or a pair [h, w] of integers, each >= minimum; `fallback` when absent
  // (required when there is none).
  std::array<int64_t, 2> int_pair(const std::string& field, int64_t minimum,
                                  std::optional<std::array<int64_t, 2>> fallback);
  bool boolean(const std::string& field, bool fallback);
  std::string string(const std::string& field, const std::string& fallback);
  // A required number.
  double number(const std::string& field);
  // The raw value of a field (marked as read), or null when absent.
  const nlohmann::json* raw(const std::string& field);

  // Throws naming the first field that no reader asked for.
  void finish() const;
  [[noreturn]] void fail(const std::string& field, const std::string& problem) const;

 private:
  const nlohmann::json& required(const std::string& field, const char* expected);

  const nlohmann::json& entry_;
  size_t index_;
  std::string type_;
  std::set<std::string> read_;
};

}  // namespace lockstep::nn::detail
