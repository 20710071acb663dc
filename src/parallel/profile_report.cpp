// ProfileReport: one allgather of every rank's (steps, seconds per phase), then the mean and
// max over ranks per phase, and the tables rank 0 prints.
#include "lockstep/parallel/profile_report.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <sstream>
#include <utility>

#include "lockstep/base/error.h"

namespace lockstep::parallel {

namespace {

// What each rank sends: its step count, then its seconds per phase (doubles hold step
// counts exactly far beyond any run).
constexpr size_t kValuesPerRank = 1 + kPhaseCount;

Phase phase_at(int i) { return static_cast<Phase>(i); }

ProfileReport::Row summarize(std::string name, const std::vector<double>& per_rank_ms) {
  ProfileReport::Row row;
  row.name = std::move(name);
  double sum = 0.0;
  for (size_t r = 0; r < per_rank_ms.size(); ++r) {
    sum += per_rank_ms[r];
    if (per_rank_ms[r] > row.max_ms) {
      row.max_ms = per_rank_ms[r];
      row.max_rank = static_cast<int>(r);
    }
  }
  row.mean_ms = sum / static_cast<double>(per_rank_ms.size());
  return row;
}

// printf into a string: the tables are fixed-width columns of numbers.
__attribute__((format(printf, 1, 2))) std::string formatted(const char* format, ...) {
  char line[256];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof(line), format, args);
  va_end(args);
  return line;
}

std::string steps_text(const std::vector<RankProfile>& ranks) {
  const auto [fewest, most] = std::minmax_element(
      ranks.begin(), ranks.end(),
      [](const RankProfile& a, const RankProfile& b) { return a.steps < b.steps; });
  if (fewest->steps == most->steps) {
    return std::to_string(most->steps) + (most->steps == 1 ? " step" : " steps");
  }
  return std::to_string(fewest->steps) + " to " + std::to_string(most->steps) +
         " steps (ranks differ)";
}

}  // namespace

double RankProfile::ms_per_step(Phase phase) const {
  if (steps <= 0) return 0.0;
  return seconds[static_cast<size_t>(phase)] * 1000.0 / static_cast<double>(steps);
}

double RankProfile::step_ms() const {
  double sum = 0.0;
  for (int i = 0; i < kPhaseCount; ++i) sum += ms_per_step(phase_at(i));
  return sum;
}

ProfileReport ProfileReport::gather(const Profiler& profiler, comm::Communicator& communicator) {
  std::vector<double> mine(kValuesPerRank);
  mine[0] = static_cast<double>(profiler.steps());
  std::copy(profiler.totals().begin(), profiler.totals().end(), mine.begin() + 1);
  std::vector<double> all(kValuesPerRank * static_cast<size_t>(communicator.size()));
  {
    const comm::ScopedLabel label(communicator, "profile report");
    communicator.allgather(mine.data(), static_cast<int64_t>(kValuesPerRank * sizeof(double)),
                           all.data());
  }
  std::vector<RankProfile> ranks(static_cast<size_t>(communicator.size()));
  for (size_t r = 0; r < ranks.size(); ++r) {
    const double* values = all.data() + r * kValuesPerRank;
    ranks[r].steps = static_cast<int64_t>(values[0]);
    std::copy(values + 1, values + kValuesPerRank, ranks[r].seconds.begin());
  }
  return ProfileReport(std::move(ranks));
}

ProfileReport::ProfileReport(std::vector<RankProfile> ranks) : ranks_(std::move(ranks)) {
  LOCKSTEP_CHECK(!ranks_.empty(),
                 "ProfileReport: expected the profiles of at least one rank, "
                 "found none");
  std::vector<double> per_rank_ms(ranks_.size());
  for (int i = 0; i < kPhaseCount; ++i) {
    for (size_t r = 0; r < ranks_.size(); ++r) per_rank_ms[r] = ranks_[r].ms_per_step(phase_at(i));
    rows_.push_back(summarize(phase_name(phase_at(i)), per_rank_ms));
  }
  for (size_t r = 0; r < ranks_.size(); ++r) per_rank_ms[r] = ranks_[r].step_ms();
  rows_.push_back(summarize("step", per_rank_ms));
  const double step_ms = rows_.back().mean_ms;
  for (Row& row : rows_) row.share = step_ms > 0.0 ? row.mean_ms / step_ms : 0.0;
}

std::string ProfileReport::format(bool per_rank) const {
  std::ostringstream text;
  text << "profile: ms per step over " << steps_text(ranks_) << ", " << ranks_.size()
       << (ranks_.size() == 1 ? " rank" : " ranks") << "\n";
  text << formatted("%-14s %10s %10s %5s %7s\n", "phase", "mean", "max", "rank", "share");
  for (const Row& row : rows_) {
    text << formatted("%-14s %10.3f %10.3f %5d %6.1f%%\n", row.name.c_str(), row.mean_ms,
                      row.max_ms, row.max_rank, 100.0 * row.share);
  }
  if (per_rank) append_rank_table(text);
  std::string lines = text.str();
  lines.pop_back();  // no final newline: runtime::info adds one
  return lines;
}

void ProfileReport::append_rank_table(std::ostringstream& text) const {
  text << "per rank, ms per step:\n" << formatted("%5s %7s", "rank", "steps");
  for (const Row& row : rows_) text << formatted(" %14s", row.name.c_str());
  text << "\n";
  for (size_t r = 0; r < ranks_.size(); ++r) {
    const RankProfile& rank = ranks_[r];
    text << formatted("%5zu %7lld", r, static_cast<long long>(rank.steps));
    for (int i = 0; i < kPhaseCount; ++i) {
      text << formatted(" %14.3f", rank.ms_per_step(phase_at(i)));
    }
    text << formatted(" %14.3f", rank.step_ms()) << "\n";
  }
}

}  // namespace lockstep::parallel
