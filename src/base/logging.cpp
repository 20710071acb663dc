// Rank-aware logging: rank 0 prints progress on stdout; any rank prints warnings and errors on
// stderr prefixed with its rank. Each line goes out in one write and is flushed at once, so
// lines of different ranks do not interleave mid-line and nothing is lost when the job aborts.
#include "lockstep/base/logging.h"

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <string>

namespace lockstep::logging {

namespace {

std::atomic<int> g_log_rank{0};

std::string format_message(const char* format, va_list args) {
  va_list measure;
  va_copy(measure, args);
  const int length = std::vsnprintf(nullptr, 0, format, measure);
  va_end(measure);
  if (length <= 0) return {};
  std::string text(static_cast<size_t>(length) + 1, '\0');
  std::vsnprintf(text.data(), text.size(), format, args);
  text.resize(static_cast<size_t>(length));
  return text;
}

void write_line(std::FILE* stream, const std::string& prefix, const char* format, va_list args) {
  std::string line = prefix + format_message(format, args) + "\n";
  std::fwrite(line.data(), 1, line.size(), stream);
  std::fflush(stream);
}

std::string rank_prefix(const char* kind) {
  return "[rank " + std::to_string(rank()) + "] " + kind + ": ";
}

}  // namespace

void set_rank(int rank) { g_log_rank.store(rank); }

int rank() { return g_log_rank.load(); }

void info(const char* format, ...) {
  if (rank() != 0) return;
  va_list args;
  va_start(args, format);
  write_line(stdout, "", format, args);
  va_end(args);
}

void warn(const char* format, ...) {
  va_list args;
  va_start(args, format);
  write_line(stderr, rank_prefix("warning"), format, args);
  va_end(args);
}

void error(const char* format, ...) {
  va_list args;
  va_start(args, format);
  write_line(stderr, rank_prefix("error"), format, args);
  va_end(args);
}

}  // namespace lockstep::logging
