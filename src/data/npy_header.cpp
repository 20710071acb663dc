// The .npy header dict: a strict parser for the Python literal NumPy writes
// ({'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }) and the dtype table.
#include <cctype>
#include <limits>
#include <string>
#include <utility>

#include "lockstep/base/error.h"
#include "lockstep/data/npy.h"

namespace lockstep::data {

namespace {

struct DtypeInfo {
  NpyDtype dtype;
  const char* descr;
  size_t size;
};

constexpr DtypeInfo kDtypes[] = {
    {NpyDtype::kFloat32, "<f4", 4}, {NpyDtype::kUint8, "|u1", 1}, {NpyDtype::kInt8, "|i1", 1},
    {NpyDtype::kInt32, "<i4", 4},   {NpyDtype::kInt64, "<i8", 8},
};

const DtypeInfo& info(NpyDtype dtype) {
  for (const DtypeInfo& entry : kDtypes) {
    if (entry.dtype == dtype) return entry;
  }
  LOCKSTEP_THROW("npy: unknown dtype enumerator " << static_cast<int>(dtype));
}

// Recursive descent over: dict := '{' (item ',')* [item [',']] '}', item := string ':' value,
// value := string | True | False | tuple, tuple := '(' ')' | '(' int ',' ')' |
// '(' int (',' int)+ [','] ')'. Whitespace may surround every token.
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view text) : text_(text) {}

  NpyHeader parse() {
    NpyHeader header;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    skip_spaces();
    expect('{');
    skip_spaces();
    while (!at('}')) {
      const size_t key_offset = pos_;
      const std::string key = parse_string();
      skip_spaces();
      expect(':');
      skip_spaces();
      if (key == "descr") {
        check_first(seen_descr, key, key_offset);
        header.descr = parse_string();
      } else if (key == "fortran_order") {
        check_first(seen_order, key, key_offset);
        header.fortran_order = parse_bool();
      } else if (key == "shape") {
        check_first(seen_shape, key, key_offset);
        header.shape = parse_tuple();
      } else {
        fail_at(key_offset, "unknown key '" + key + "'; expected descr, fortran_order, shape");
      }
      skip_spaces();
      if (!at(',')) break;
      ++pos_;
      skip_spaces();
    }
    expect('}');
    skip_spaces();
    if (pos_ != text_.size()) fail("the end of the header after '}'");
    if (!seen_descr || !seen_order || !seen_shape) {
      fail_at(0, std::string("the header lacks the key '") +
                     (!seen_descr   ? "descr"
                      : !seen_order ? "fortran_order"
                                    : "shape") +
                     "'");
    }
    return header;
  }

 private:
  static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
  bool at(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
  void skip_spaces() {
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
  }

  [[noreturn]] void fail_at(size_t offset, const std::string& message) const {
    LOCKSTEP_THROW("npy header: " << message << " (at offset " << offset << " of '"
                                  << std::string(text_.substr(0, 200)) << "')");
  }
  [[noreturn]] void fail(const std::string& expected) const {
    const std::string found =
        pos_ < text_.size() ? "'" + std::string(1, text_[pos_]) + "'" : "the end";
    fail_at(pos_, "expected " + expected + ", found " + found);
  }
  void expect(char c) {
    if (!at(c)) fail(std::string("'") + c + "'");
    ++pos_;
  }
  void check_first(bool& seen, const std::string& key, size_t offset) const {
    if (seen) fail_at(offset, "the key '" + key + "' appears twice");
    seen = true;
  }

  std::string parse_string() {
    if (!at('\'') && !at('"')) fail("a quoted string");
    const char quote = text_[pos_++];
    const size_t begin = pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\' || text_[pos_] == '\n') fail("a plain string without escapes");
      ++pos_;
    }
    if (pos_ == text_.size()) fail(std::string("the closing quote ") + quote);
    return std::string(text_.substr(begin, pos_++ - begin));
  }

  bool parse_bool() {
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      const std::string_view token(word);
      if (text_.substr(pos_, token.size()) == token) {
        const size_t end = pos_ + token.size();
        if (end == text_.size() || !std::isalnum(static_cast<unsigned char>(text_[end]))) {
          pos_ = end;
          return value;
        }
      }
    }
    fail("True or False");
  }

  int64_t parse_int() {
    if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9') {
      fail("a non-negative integer");
    }
    const size_t begin = pos_;
    int64_t value = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const int digit = text_[pos_] - '0';
      if (value > (std::numeric_limits<int64_t>::max() - digit) / 10) {
        fail_at(begin, "the integer does not fit in int64");
      }
      value = value * 10 + digit;
      ++pos_;
    }
    if (text_[begin] == '0' && pos_ - begin > 1) fail_at(begin, "integers have no leading zeros");
    return value;
  }

  Shape parse_tuple() {
    expect('(');
    skip_spaces();
    Shape shape;
    bool trailing_comma = false;
    while (!at(')')) {
      shape.push_back(parse_int());
      skip_spaces();
      trailing_comma = at(',');
      if (!trailing_comma) break;
      ++pos_;
      skip_spaces();
    }
    if (shape.size() == 1 && !trailing_comma) {
      fail("',' after the only element of a one-element tuple");
    }
    expect(')');
    return shape;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

const char* npy_descr(NpyDtype dtype) { return info(dtype).descr; }

size_t npy_element_size(NpyDtype dtype) { return info(dtype).size; }

NpyDtype npy_dtype_from_descr(std::string_view descr) {
  for (const DtypeInfo& entry : kDtypes) {
    if (descr == entry.descr) return entry.dtype;
  }
  const bool big_endian = !descr.empty() && descr[0] == '>';
  LOCKSTEP_THROW("npy: dtype '" << std::string(descr) << "' is not supported"
                                << (big_endian ? " (big-endian data)" : "")
                                << "; expected '<f4', '|u1', '|i1', '<i4' or '<i8'");
}

NpyHeader parse_npy_header(std::string_view text) { return HeaderParser(text).parse(); }

}  // namespace lockstep::data
