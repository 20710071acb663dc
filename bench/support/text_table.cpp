// TextTable: column widths from the widest cell, printed with fprintf.
#include "support/text_table.h"

#include <algorithm>
#include <cstdarg>
#include <cstdint>

#include "lockstep/base/error.h"

namespace lockstep::bench {

TextTable::TextTable(std::vector<std::string> headers, Values values)
    : headers_(std::move(headers)), values_(values) {}

void TextTable::add_row(std::vector<std::string> cells) {
  LOCKSTEP_CHECK(cells.size() == headers_.size(), "TextTable: expected a row of "
                                                      << headers_.size() << " cells, found "
                                                      << cells.size());
  rows_.push_back(std::move(cells));
}

void TextTable::print(std::FILE* out) const {
  std::vector<size_t> widths(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) {
    widths[c] = headers_[c].size();
    for (const auto& row : rows_) widths[c] = std::max(widths[c], row[c].size());
  }
  const auto print_row = [&](const std::vector<std::string>& cells) {
    for (size_t c = 0; c < cells.size(); ++c) {
      const bool last = c + 1 == cells.size();
      // No padding after a left-aligned last cell: lines end without trailing spaces.
      const int width =
          last && (c == 0 || values_ == Values::kLeftAligned) ? 0 : static_cast<int>(widths[c]);
      if (c == 0 || values_ == Values::kLeftAligned) {
        std::fprintf(out, c == 0 ? "%-*s" : "  %-*s", width, cells[c].c_str());
      } else {
        std::fprintf(out, "  %*s", width, cells[c].c_str());
      }
    }
    std::fprintf(out, "\n");
  };
  print_row(headers_);
  size_t total = 0;
  for (size_t width : widths) total += width;
  total += 2 * (widths.size() - 1);
  std::fprintf(out, "%s\n", std::string(total, '-').c_str());
  for (const auto& row : rows_) print_row(row);
  std::fflush(out);
}

std::string format(const char* format, ...) {
  va_list args;
  va_start(args, format);
  va_list copy;
  va_copy(copy, args);
  const int length = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  std::string text(static_cast<size_t>(std::max(length, 0)), '\0');
  std::vsnprintf(text.data(), text.size() + 1, format, args);
  va_end(args);
  return text;
}

std::string format_bytes(int64_t bytes) {
  constexpr int64_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024;
  if (bytes >= kGiB && bytes % kGiB == 0) return std::to_string(bytes / kGiB) + " GiB";
  if (bytes >= kMiB && bytes % kMiB == 0) return std::to_string(bytes / kMiB) + " MiB";
  if (bytes >= kKiB && bytes % kKiB == 0) return std::to_string(bytes / kKiB) + " KiB";
  return std::to_string(bytes) + " B";
}

}  // namespace lockstep::bench
