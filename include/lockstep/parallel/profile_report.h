// ProfileReport: every rank's per-phase time per step (from its Profiler), gathered so that
// rank 0 can print where a training step's time goes: the mean over ranks, the slowest rank,
// and each phase's share of the step. It lives in parallel, not core, because it needs comm.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "lockstep/base/profiler.h"
#include "lockstep/comm/communicator.h"

namespace lockstep::parallel {

// One rank's measurements: closed steps and seconds per phase over them.
struct RankProfile {
  int64_t steps = 0;
  PhaseSeconds seconds{};

  // Milliseconds per step in `phase` (0 without steps).
  double ms_per_step(Phase phase) const;
  // Milliseconds per step over all phases: the step's wall time when scopes measured it.
  double step_ms() const;
};

class ProfileReport {
 public:
  // A row of the table: one phase, or "step" (the sum of the phases), in ms per step.
  struct Row {
    std::string name;
    double mean_ms = 0.0;  // mean over ranks
    double max_ms = 0.0;   // max over ranks ...
    int max_rank = 0;      // ... reached first on this rank
    double share = 0.0;    // mean_ms / the step row's mean_ms (0 when the step took no time)
  };

  // Collective: every rank of `communicator` calls it, with its own profiler, at the same
  // point (after the last step). Every rank gets the same report.
  static ProfileReport gather(const Profiler& profiler, comm::Communicator& communicator);

  // A report of the given ranks' profiles, rank 0 first. Throws lockstep::Error when empty.
  explicit ProfileReport(std::vector<RankProfile> ranks);

  // One row per phase, in Phase order, then the step row.
  const std::vector<Row>& rows() const { return rows_; }
  const Row& row(Phase phase) const { return rows_[static_cast<size_t>(phase)]; }
  const Row& step_row() const { return rows_.back(); }
  const std::vector<RankProfile>& ranks() const { return ranks_; }

  // The table as lines of text joined by '\n' (no final newline: runtime::info adds one), for
  // rank 0 to print; "rank" is the rank of the max:
  //   profile: ms per step over 100 steps, 3 ranks
  //   phase                mean        max  rank   share
  //   data                1.333      1.500     1    3.3%
  //   ...
  //   allreduce_wait      3.400      6.100     0    8.5%
  //   ...
  //   step               39.900     40.300     2  100.0%
  // With `per_rank`, a second table follows with one row per rank and a column per phase.
  std::string format(bool per_rank = false) const;

 private:
  void append_rank_table(std::ostringstream& text) const;

  std::vector<RankProfile> ranks_;
  std::vector<Row> rows_;
};

}  // namespace lockstep::parallel
