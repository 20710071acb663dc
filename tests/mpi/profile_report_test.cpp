// ProfileReport across ranks: when every rank feeds known durations into its profiler, the
// gathered mean and max over ranks, the rank of the max and each phase's share of the step
// equal their closed forms, every rank gets the same report, and the printed tables name
// every phase (and every rank when asked).
#include "lockstep/parallel/profile_report.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/base/profiler.h"
#include "mpi_test.h"

namespace lockstep::parallel {
namespace {

constexpr int kSteps = 4;

// Milliseconds rank `rank` of `size` spends in phase i at step s (1-based): (i + 1) * s times
// (rank + 1), except allreduce_wait, which shrinks with the rank (size - rank) so that its
// max sits on rank 0, as it does when rank 0 is the fastest and waits for the others.
double fed_ms(int rank, int size, int i, int s) {
  const int weight = static_cast<Phase>(i) == Phase::kAllreduceWait ? size - rank : rank + 1;
  return static_cast<double>((i + 1) * s * weight);
}

// A profiler that saw kSteps steps of fed_ms, through add() (no clock, no sleeping).
void feed(Profiler& profiler, int rank, int size) {
  profiler.enable(false);
  for (int s = 1; s <= kSteps; ++s) {
    for (int i = 0; i < kPhaseCount; ++i) {
      profiler.add(static_cast<Phase>(i), fed_ms(rank, size, i, s) * 1e-3);
    }
    profiler.end_step();
  }
}

constexpr double kTolerance = 1e-9;
// The mean over steps 1..kSteps of s.
constexpr double kMeanStep = (kSteps + 1) / 2.0;
constexpr int kWait = static_cast<int>(Phase::kAllreduceWait);

TEST(ProfileReport, MeanAndMaxOverRanksMatchClosedForms) {
  comm::Communicator& world = testing::mpi_world();
  const int n = world.size();
  Profiler profiler;
  feed(profiler, world.rank(), n);
  const ProfileReport report = ProfileReport::gather(profiler, world);

  ASSERT_EQ(report.ranks().size(), static_cast<size_t>(n));
  ASSERT_EQ(report.rows().size(), static_cast<size_t>(kPhaseCount + 1));
  for (int i = 0; i < kPhaseCount; ++i) {
    const ProfileReport::Row& row = report.row(static_cast<Phase>(i));
    EXPECT_EQ(row.name, phase_name(static_cast<Phase>(i)));
    // Both weights (rank + 1 and size - rank) average (n + 1) / 2 over the ranks.
    EXPECT_NEAR(row.mean_ms, (i + 1) * kMeanStep * (n + 1) / 2.0, kTolerance) << row.name;
    EXPECT_NEAR(row.max_ms, (i + 1) * kMeanStep * n, kTolerance) << row.name;
    EXPECT_EQ(row.max_rank, i == kWait ? 0 : n - 1) << row.name;
  }
  // Per rank, the step is the sum of the phases: weight (rank + 1) on 1+2+3+5+6 = 17 and
  // (n - rank) on allreduce_wait's 4; its mean is 21 (n + 1) / 2 and its max, on the last
  // rank, 17 n + 4.
  const ProfileReport::Row& step = report.step_row();
  EXPECT_EQ(step.name, "step");
  EXPECT_NEAR(step.mean_ms, kMeanStep * 21 * (n + 1) / 2.0, kTolerance);
  EXPECT_NEAR(step.max_ms, kMeanStep * (17 * n + 4), kTolerance);
  EXPECT_EQ(step.max_rank, n - 1);
  EXPECT_NEAR(step.share, 1.0, kTolerance);
  for (int i = 0; i < kPhaseCount; ++i) {
    EXPECT_NEAR(report.row(static_cast<Phase>(i)).share, (i + 1) / 21.0, kTolerance);
  }
}

TEST(ProfileReport, EveryRankSeesEveryRanksProfile) {
  comm::Communicator& world = testing::mpi_world();
  Profiler profiler;
  feed(profiler, world.rank(), world.size());
  const ProfileReport report = ProfileReport::gather(profiler, world);
  for (int r = 0; r < world.size(); ++r) {
    const RankProfile& rank = report.ranks()[static_cast<size_t>(r)];
    EXPECT_EQ(rank.steps, kSteps) << "rank " << r;
    for (int i = 0; i < kPhaseCount; ++i) {
      EXPECT_NEAR(rank.ms_per_step(static_cast<Phase>(i)),
                  kMeanStep * fed_ms(r, world.size(), i, 1), kTolerance)
          << "rank " << r << ", " << phase_name(static_cast<Phase>(i));
    }
  }
}

TEST(ProfileReport, TablesNameEveryPhaseAndEveryRankWhenAsked) {
  comm::Communicator& world = testing::mpi_world();
  Profiler profiler;
  feed(profiler, world.rank(), world.size());
  const ProfileReport report = ProfileReport::gather(profiler, world);
  const std::string summary = report.format();
  const std::string verbose = report.format(true);
  EXPECT_NE(summary.find("over 4 steps, " + std::to_string(world.size()) + " rank"),
            std::string::npos)
      << summary;
  for (const ProfileReport::Row& row : report.rows()) {
    EXPECT_NE(summary.find("\n" + row.name + " "), std::string::npos) << row.name << "\n"
                                                                      << summary;
  }
  EXPECT_EQ(summary.find("per rank"), std::string::npos) << summary;
  EXPECT_EQ(verbose.rfind(summary, 0), 0u) << verbose;  // the summary, then the rank table
  EXPECT_NE(summary.back(), '\n');                      // runtime::info adds the last newline
  EXPECT_NE(verbose.back(), '\n');
  // The rank table: its title, a header, then one line per rank.
  const std::string ranks_table = verbose.substr(verbose.find("per rank"));
  int lines = 1;
  for (char c : ranks_table) lines += c == '\n';
  EXPECT_EQ(lines, 2 + world.size()) << ranks_table;
  EXPECT_NE(ranks_table.find("allreduce_wait"), std::string::npos) << ranks_table;
}

TEST(ProfileReport, RanksThatRanDifferentStepCountsAreNamedInTheHeader) {
  comm::Communicator& world = testing::mpi_world();
  Profiler profiler;
  profiler.enable(false);
  for (int s = 0; s <= world.rank(); ++s) {  // rank r runs r + 1 steps of 2 ms forward
    profiler.add(Phase::kForward, 2e-3);
    profiler.end_step();
  }
  const ProfileReport report = ProfileReport::gather(profiler, world);
  // A mean per step, so the differing step counts do not show in the times.
  EXPECT_NEAR(report.row(Phase::kForward).mean_ms, 2.0, kTolerance);
  EXPECT_NEAR(report.row(Phase::kForward).max_ms, 2.0, kTolerance);
  const std::string expected =
      world.size() == 1 ? "over 1 step, 1 rank"
                        : "over 1 to " + std::to_string(world.size()) + " steps (ranks differ)";
  EXPECT_NE(report.format().find(expected), std::string::npos) << report.format();
}

TEST(ProfileReport, NoRanksIsAnError) {
  EXPECT_THROW(ProfileReport(std::vector<RankProfile>{}), Error);
}

}  // namespace
}  // namespace lockstep::parallel
