// LayerSpecReader: typed, checked access to the fields of one layer entry of a model spec.
#include "nn/spec_reader.h"

#include "lockstep/base/error.h"

namespace lockstep::nn::detail {

LayerSpecReader::LayerSpecReader(const nlohmann::json& entry, size_t index)
    : entry_(entry), index_(index) {
  LOCKSTEP_CHECK(entry.is_object(),
                 "model spec: layers[" << index << "] must be an object, found " << entry.dump());
  const auto type = entry.find("type");
  LOCKSTEP_CHECK(
      type != entry.end() && type->is_string(),
      "model spec: layers[" << index << "] needs a string field \"type\", found " << entry.dump());
  type_ = type->get<std::string>();
  read_.insert("type");
}

std::string LayerSpecReader::where() const {
  return "model spec: layers[" + std::to_string(index_) + "] (" + type_ + ")";
}

void LayerSpecReader::fail(const std::string& field, const std::string& problem) const {
  LOCKSTEP_THROW(where() << ": field \"" << field << "\" " << problem);
}

const nlohmann::json& LayerSpecReader::required(const std::string& field, const char* expected) {
  const auto value = entry_.find(field);
  if (value == entry_.end()) fail(field, std::string("is missing; expected ") + expected);
  read_.insert(field);
  return *value;
}

const nlohmann::json* LayerSpecReader::raw(const std::string& field) {
  const auto value = entry_.find(field);
  if (value == entry_.end()) return nullptr;
  read_.insert(field);
  return &*value;
}

int64_t LayerSpecReader::positive_int(const std::string& field) {
  const nlohmann::json& value = required(field, "a positive integer");
  if (!value.is_number_integer() || value.get<int64_t>() <= 0) {
    fail(field, "must be a positive integer, found " + value.dump());
  }
  return value.get<int64_t>();
}

std::array<int64_t, 2> LayerSpecReader::int_pair(const std::string& field, int64_t minimum,
                                                 std::optional<std::array<int64_t, 2>> fallback) {
  const nlohmann::json* value = raw(field);
  if (value == nullptr) {
    if (fallback) return *fallback;
    fail(field, "is missing; expected an integer or [height, width]");
  }
  const auto valid = [minimum](const nlohmann::json& item) {
    return item.is_number_integer() && item.get<int64_t>() >= minimum;
  };
  const std::string expected =
      "an integer >= " + std::to_string(minimum) + " or a pair [height, width] of them";
  if (valid(*value)) return {value->get<int64_t>(), value->get<int64_t>()};
  if (!value->is_array() || value->size() != 2 || !valid((*value)[0]) || !valid((*value)[1])) {
    fail(field, "must be " + expected + ", found " + value->dump());
  }
  return {(*value)[0].get<int64_t>(), (*value)[1].get<int64_t>()};
}

bool LayerSpecReader::boolean(const std::string& field, bool fallback) {
  const nlohmann::json* value = raw(field);
  if (value == nullptr) return fallback;
  if (!value->is_boolean()) fail(field, "must be true or false, found " + value->dump());
  return value->get<bool>();
}

std::string LayerSpecReader::string(const std::string& field, const std::string& fallback) {
  const nlohmann::json* value = raw(field);
  if (value == nullptr) return fallback;
  if (!value->is_string()) fail(field, "must be a string, found " + value->dump());
  return value->get<std::string>();
}

double LayerSpecReader::number(const std::string& field) {
  const nlohmann::json& value = required(field, "a number");
  if (!value.is_number()) fail(field, "must be a number, found " + value.dump());
  return value.get<double>();
}

void LayerSpecReader::finish() const {
  for (const auto& [field, value] : entry_.items()) {
    if (read_.count(field) == 0) {
      LOCKSTEP_THROW(where() << ": unknown field \"" << field << "\"");
    }
  }
}

}  // namespace lockstep::nn::detail
