// TextTable: the aligned plain-text table a benchmark prints on rank 0 (header, rule, rows;
// numbers right-aligned), so that results read the same in a terminal and in a log.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace lockstep::bench {

class TextTable {
 public:
  enum class Values { kRightAligned, kLeftAligned };
  // kLeftAligned suits a two-column "name, value" table whose values are text.
  explicit TextTable(std::vector<std::string> headers, Values values = Values::kRightAligned);

  // One cell per header; throws lockstep::Error otherwise.
  void add_row(std::vector<std::string> cells);
  // The first column left-aligned, the others as the constructor says, two spaces apart.
  void print(std::FILE* out) const;

 private:
  std::vector<std::string> headers_;
  Values values_;
  std::vector<std::vector<std::string>> rows_;
};

// printf-style formatting into a std::string, for table cells ("%.2f").
std::string format(const char* format, ...) __attribute__((format(printf, 1, 2)));

// 4096 -> "4 KiB", 67108864 -> "64 MiB" (exact binary multiples; otherwise bytes).
std::string format_bytes(int64_t bytes);

}  // namespace lockstep::bench
