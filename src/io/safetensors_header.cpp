// Validation of a safetensors JSON header: every field, dtype, shape and offset is checked
// against the size of the data buffer before the reader allocates a byte for tensor data.
#include <algorithm>
#include <array>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>
#include <vector>

#include "io/safetensors_detail.h"
#include "lockstep/base/error.h"

// Every header error names the file first.
#define LOCKSTEP_HEADER_CHECK(condition, ...) \
  LOCKSTEP_CHECK(condition, "safetensors file '" << source << "': header: " << __VA_ARGS__)

namespace lockstep::io::detail {

namespace {

using Json = nlohmann::ordered_json;

// A valid header nests three deep (object, entry, shape); deeper text is rejected before the
// parser sees it, so hostile nesting cannot build a huge tree.
constexpr int kMaxHeaderDepth = 8;

struct DtypeBits {
  std::string_view name;
  int bits;
};

constexpr std::array<DtypeBits, 20> kDtypes{{
    {"BOOL", 8}, {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"U8", 8},
    {"I8", 8},   {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"I16", 16},
    {"U16", 16}, {"F16", 16},    {"BF16", 16},   {"I32", 32},    {"U32", 32},
    {"F32", 32}, {"C64", 64},    {"F64", 64},    {"I64", 64},    {"U64", 64},
}};

void check_nesting(std::string_view text, const std::string& source) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      LOCKSTEP_HEADER_CHECK(++depth <= kMaxHeaderDepth,
                            "JSON nests deeper than " << kMaxHeaderDepth << " levels");
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
}

// Parses the header and reports keys that repeat within one object: the JSON library
// would silently keep the last one, hiding a second tensor under the same name.
Json parse_rejecting_duplicates(std::string_view text, const std::string& source) {
  std::vector<std::set<std::string>> keys_by_depth;
  std::string last_name;
  std::string duplicate;
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    const auto level = static_cast<size_t>(std::max(depth, 0));
    if (event == Json::parse_event_t::object_start) {
      if (keys_by_depth.size() <= level + 1) keys_by_depth.resize(level + 2);
      keys_by_depth[level + 1].clear();
    } else if (event == Json::parse_event_t::key && level < keys_by_depth.size()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!keys_by_depth[level].insert(key).second && duplicate.empty()) {
        duplicate = level == 1 ? "tensor name '" + key + "' appears twice"
                               : "key '" + key + "' appears twice in '" + last_name + "'";
      }
      if (level == 1) last_name = key;
    }
    return true;
  };
  Json root;
  try {
    root = Json::parse(text.begin(), text.end(), callback);
  } catch (const nlohmann::json::exception& e) {
    LOCKSTEP_THROW("safetensors file '" << source << "': header: not valid JSON: " << e.what());
  }
  LOCKSTEP_HEADER_CHECK(duplicate.empty(), duplicate);
  return root;
}

std::map<std::string, std::string> parse_metadata(const Json& value, const std::string& source) {
  LOCKSTEP_HEADER_CHECK(value.is_object(),
                        "'__metadata__' is a JSON " << value.type_name() << ", expected an object");
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    LOCKSTEP_HEADER_CHECK(item.is_string(), "'__metadata__' value of key '"
                                                << key << "' is a JSON " << item.type_name()
                                                << ", expected a string");
    metadata.emplace(key, item.get<std::string>());
  }
  return metadata;
}

Shape parse_shape(const std::string& name, const Json& value, const std::string& source) {
  LOCKSTEP_HEADER_CHECK(value.is_array(), "tensor '" << name << "': field 'shape' is a JSON "
                                                     << value.type_name() << ", expected an array");
  Shape shape;
  for (size_t d = 0; d < value.size(); ++d) {
    const Json& extent = value[d];
    LOCKSTEP_HEADER_CHECK(extent.is_number_integer(),
                          "tensor '" << name << "': shape extent " << d << " is " << extent.dump()
                                     << ", expected a non-negative integer");
    LOCKSTEP_HEADER_CHECK(!extent.is_number_unsigned() ||
                              extent.get<uint64_t>() <= std::numeric_limits<int64_t>::max(),
                          "tensor '" << name << "': shape extent " << d << " is " << extent.dump()
                                     << ", larger than int64 can hold");
    const auto size = extent.get<int64_t>();
    LOCKSTEP_HEADER_CHECK(size >= 0, "tensor '" << name << "': shape extent " << d << " is " << size
                                                << ", expected a non-negative integer");
    shape.push_back(size);
  }
  return shape;
}

// Element count, checked so that numel * bits still fits in 64 bits.
uint64_t checked_bits(const std::string& name, const Shape& shape, int bits,
                      const std::string& source) {
  uint64_t numel = 1;
  for (const int64_t extent : shape) {
    const auto e = static_cast<uint64_t>(extent);
    LOCKSTEP_HEADER_CHECK(e == 0 || numel <= std::numeric_limits<uint64_t>::max() / e,
                          "tensor '" << name << "': shape " << to_string(shape)
                                     << " has more elements than 64 bits can count");
    numel *= e;
  }
  LOCKSTEP_HEADER_CHECK(numel <= std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(bits),
                        "tensor '" << name << "': shape " << to_string(shape)
                                   << " needs more bytes than 64 bits can count");
  return numel * static_cast<uint64_t>(bits);
}

std::pair<uint64_t, uint64_t> parse_offsets(const std::string& name, const Json& value,
                                            const std::string& source) {
  LOCKSTEP_HEADER_CHECK(value.is_array() && value.size() == 2,
                        "tensor '" << name << "': field 'data_offsets' is " << value.dump()
                                   << ", expected an array [begin, end]");
  for (size_t i = 0; i < 2; ++i) {
    LOCKSTEP_HEADER_CHECK(value[i].is_number_unsigned(),
                          "tensor '" << name << "': data_offsets[" << i << "] is "
                                     << value[i].dump() << ", expected a non-negative integer");
  }
  return {value[0].get<uint64_t>(), value[1].get<uint64_t>()};
}

SafetensorsEntry parse_entry(const std::string& name, const Json& value, uint64_t buffer_bytes,
                             const std::string& source) {
  LOCKSTEP_HEADER_CHECK(value.is_object(),
                        "tensor '" << name << "' is a JSON " << value.type_name()
                                   << ", expected an object with dtype, shape and data_offsets");
  for (const auto& [key, ignored] : value.items()) {
    LOCKSTEP_HEADER_CHECK(key == "dtype" || key == "shape" || key == "data_offsets",
                          "tensor '" << name << "' has an unexpected field '" << key
                                     << "' (expected dtype, shape and data_offsets)");
  }
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    LOCKSTEP_HEADER_CHECK(value.contains(field),
                          "tensor '" << name << "' has no field '" << field << "'");
  }
  SafetensorsEntry entry;
  entry.name = name;
  const Json& dtype = value["dtype"];
  LOCKSTEP_HEADER_CHECK(dtype.is_string(), "tensor '" << name << "': field 'dtype' is "
                                                      << dtype.dump() << ", expected a string");
  entry.dtype = dtype.get<std::string>();
  const int bits = safetensors_dtype_bits(entry.dtype);
  LOCKSTEP_HEADER_CHECK(bits > 0, "tensor '" << name << "': dtype '" << entry.dtype
                                             << "' is not a safetensors dtype");
  entry.shape = parse_shape(name, value["shape"], source);
  const uint64_t total_bits = checked_bits(name, entry.shape, bits, source);
  std::tie(entry.begin, entry.end) = parse_offsets(name, value["data_offsets"], source);
  LOCKSTEP_HEADER_CHECK(entry.begin <= entry.end, "tensor '" << name << "': data_offsets ["
                                                             << entry.begin << ", " << entry.end
                                                             << "] end before they begin");
  LOCKSTEP_HEADER_CHECK(total_bits % 8 == 0 && entry.end - entry.begin == total_bits / 8,
                        "tensor '" << name << "': data_offsets [" << entry.begin << ", "
                                   << entry.end << "] span " << entry.end - entry.begin
                                   << " bytes, shape " << to_string(entry.shape) << " of "
                                   << entry.dtype << " needs " << total_bits / 8
                                   << (total_bits % 8 ? " and a fraction" : ""));
  LOCKSTEP_HEADER_CHECK(entry.end <= buffer_bytes,
                        "tensor '" << name << "': data_offsets [" << entry.begin << ", "
                                   << entry.end << "] reach past the end of the data buffer ("
                                   << buffer_bytes << " bytes)");
  return entry;
}

// The entries, sorted by offset, must tile the buffer: no overlap, no hole, nothing after.
void check_layout(std::vector<SafetensorsEntry>& entries, uint64_t buffer_bytes,
                  const std::string& source) {
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  uint64_t covered = 0;
  const SafetensorsEntry* previous = nullptr;
  for (const SafetensorsEntry& entry : entries) {
    LOCKSTEP_HEADER_CHECK(entry.begin >= covered,
                          "tensor '" << entry.name << "': data_offsets [" << entry.begin << ", "
                                     << entry.end << "] overlap tensor '" << previous->name
                                     << "' at [" << previous->begin << ", " << previous->end
                                     << "]");
    LOCKSTEP_HEADER_CHECK(entry.begin == covered,
                          "data buffer bytes [" << covered << ", " << entry.begin
                                                << ") belong to no tensor (a hole before tensor '"
                                                << entry.name << "')");
    covered = entry.end;
    previous = &entry;
  }
  LOCKSTEP_HEADER_CHECK(covered == buffer_bytes, "the data buffer has "
                                                     << buffer_bytes
                                                     << " bytes but the tensors cover " << covered
                                                     << " (trailing data after the last tensor)");
}

}  // namespace

int safetensors_dtype_bits(std::string_view dtype) {
  for (const DtypeBits& known : kDtypes) {
    if (known.name == dtype) return known.bits;
  }
  return 0;
}

SafetensorsIndex parse_safetensors_header(std::string_view header, uint64_t buffer_bytes,
                                          const std::string& source) {
  check_nesting(header, source);
  const Json root = parse_rejecting_duplicates(header, source);
  LOCKSTEP_HEADER_CHECK(root.is_object(),
                        "is a JSON " << root.type_name() << ", expected an object");
  SafetensorsIndex index;
  for (const auto& [name, value] : root.items()) {
    if (name == "__metadata__") {
      index.metadata = parse_metadata(value, source);
    } else {
      index.entries.push_back(parse_entry(name, value, buffer_bytes, source));
    }
  }
  check_layout(index.entries, buffer_bytes, source);
  return index;
}

}  // namespace lockstep::io::detail

#undef LOCKSTEP_HEADER_CHECK
