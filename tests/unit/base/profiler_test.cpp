// Profiler: scopes credit the right phase (the innermost open one), steps close and count,
// a disabled profiler reads no clock and keeps nothing, the Chrome trace is valid JSON with
// the fields viewers need, the event cap bounds memory, and write errors are clear. Time comes
// from a fake clock the tests advance, so every duration is exact and nothing sleeps.
#include "lockstep/base/profiler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lockstep/base/error.h"
#include "support/test_support.h"

namespace lockstep {
namespace {

using Clock = Profiler::Clock;
using std::chrono::microseconds;

// The fake clock: tests move it forward by hand and count how often the profiler reads it.
Clock::time_point fake_time{};
int clock_reads = 0;

Clock::time_point fake_now() {
  ++clock_reads;
  return fake_time;
}

void advance_us(int64_t us) { fake_time += microseconds(us); }

class ProfilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_time = Clock::time_point{} + std::chrono::seconds(100);
    clock_reads = 0;
  }
  Profiler profiler_{&fake_now};
};

double seconds(Phase phase, const Profiler& profiler) { return profiler.total_seconds(phase); }

double sum_of_phases(const Profiler& profiler) {
  double sum = 0.0;
  for (double s : profiler.totals()) sum += s;
  return sum;
}

TEST(ProcessProfiler, IsDisabledByDefault) {
  EXPECT_FALSE(profiler().enabled());
  EXPECT_FALSE(profiler().measuring());
  EXPECT_FALSE(profiler().tracing());
}

TEST(ProfilerNames, PhasesAndLanesHaveTheirTraceNames) {
  EXPECT_STREQ(phase_name(Phase::kData), "data");
  EXPECT_STREQ(phase_name(Phase::kForward), "forward");
  EXPECT_STREQ(phase_name(Phase::kBackward), "backward");
  EXPECT_STREQ(phase_name(Phase::kAllreduceWait), "allreduce_wait");
  EXPECT_STREQ(phase_name(Phase::kOptimizer), "optimizer");
  EXPECT_STREQ(phase_name(Phase::kOther), "other");
  EXPECT_STREQ(lane_name(Lane::kCompute), "compute");
  EXPECT_STREQ(lane_name(Lane::kComm), "comm");
}

TEST_F(ProfilerTest, DisabledProfilerReadsNoClockAndKeepsNothing) {
  profiler_.begin_step(1);
  {
    ProfileScope scope(Phase::kForward, profiler_);
    advance_us(1000);
  }
  {
    TraceSpan span("allreduce_sum", Lane::kComm, profiler_);
    EXPECT_FALSE(span.active());
  }
  profiler_.add(Phase::kData, 0.5);
  profiler_.record_event("allreduce_sum", Lane::kComm, fake_time, fake_time + microseconds(5));
  profiler_.end_step();
  EXPECT_EQ(clock_reads, 0);
  EXPECT_EQ(profiler_.steps(), 0);
  EXPECT_EQ(sum_of_phases(profiler_), 0.0);
  EXPECT_EQ(profiler_.trace_event_count(), 0u);
}

TEST_F(ProfilerTest, ScopesCreditTheirPhaseAndUnscopedTimeIsOther) {
  profiler_.enable(false);
  profiler_.begin_step();
  advance_us(100);  // other
  const std::vector<std::pair<Phase, int64_t>> work = {{Phase::kData, 2000},
                                                       {Phase::kForward, 3000},
                                                       {Phase::kBackward, 4000},
                                                       {Phase::kAllreduceWait, 5000},
                                                       {Phase::kOptimizer, 6000}};
  for (const auto& [phase, us] : work) {
    ProfileScope scope(phase, profiler_);
    advance_us(us);
  }
  advance_us(400);  // other
  profiler_.end_step();
  EXPECT_EQ(profiler_.steps(), 1);
  for (const auto& [phase, us] : work) {
    EXPECT_DOUBLE_EQ(seconds(phase, profiler_), static_cast<double>(us) * 1e-6)
        << phase_name(phase);
  }
  EXPECT_DOUBLE_EQ(seconds(Phase::kOther, profiler_), 500e-6);
  // The phases of a step add up to its wall time.
  EXPECT_DOUBLE_EQ(sum_of_phases(profiler_), 20500e-6);
}

TEST_F(ProfilerTest, StepsCountAndTotalsSumOverSteps) {
  profiler_.enable(false);
  for (int64_t step = 1; step <= 3; ++step) {
    profiler_.begin_step(step);
    ProfileScope scope(Phase::kForward, profiler_);
    advance_us(1000 * step);  // 1, 2, 3 ms
  }
  EXPECT_EQ(profiler_.steps(), 2);  // each begin_step closed the step before it
  profiler_.end_step();
  EXPECT_EQ(profiler_.steps(), 3);
  EXPECT_DOUBLE_EQ(seconds(Phase::kForward, profiler_), 6e-3);
  EXPECT_DOUBLE_EQ(profiler_.mean_ms_per_step()[static_cast<size_t>(Phase::kForward)], 2.0);
  EXPECT_DOUBLE_EQ(seconds(Phase::kOther, profiler_), 0.0);
}

TEST_F(ProfilerTest, MeanPerStepIsZeroBeforeTheFirstStep) {
  profiler_.enable(false);
  for (double ms : profiler_.mean_ms_per_step()) EXPECT_EQ(ms, 0.0);
}

// Layer forward calls nest (a Model in the engine): every level runs 1 ms
// inside the one around it.
void nested_forward(Profiler& profiler, int levels) {
  ProfileScope scope(Phase::kForward, profiler);
  advance_us(1000);
  if (levels > 1) nested_forward(profiler, levels - 1);
}

TEST_F(ProfilerTest, NestedScopesOfTheSamePhaseCountOnceAndOnlyTheOutermostIsTraced) {
  profiler_.enable(true);
  profiler_.begin_step();
  const int reads_before = clock_reads;
  nested_forward(profiler_, 3 * kPhaseCount);  // deeper than there are phases
  EXPECT_EQ(clock_reads - reads_before, 2);    // the outermost scope's open and close
  profiler_.end_step();
  EXPECT_DOUBLE_EQ(seconds(Phase::kForward, profiler_), 18e-3);  // each ms once
  EXPECT_DOUBLE_EQ(sum_of_phases(profiler_), 18e-3);
  EXPECT_EQ(profiler_.trace_event_count(), 2u);  // one forward event and the step
}

TEST_F(ProfilerTest, NestedScopeOfAnotherPhaseTakesItsTimeFromTheOuter) {
  profiler_.enable(false);
  profiler_.begin_step();
  {
    ProfileScope forward(Phase::kForward, profiler_);
    advance_us(1000);
    {
      ProfileScope copy(Phase::kData, profiler_);
      advance_us(2000);
      ProfileScope forward_again(Phase::kForward, profiler_);  // inside data: counts as data
      advance_us(500);
    }
    advance_us(3000);
  }
  profiler_.end_step();
  EXPECT_DOUBLE_EQ(seconds(Phase::kForward, profiler_), 4e-3);
  EXPECT_DOUBLE_EQ(seconds(Phase::kData, profiler_), 2.5e-3);
  EXPECT_DOUBLE_EQ(sum_of_phases(profiler_), 6.5e-3);  // the step's wall time, once
}

TEST_F(ProfilerTest, ExplicitOtherScopeInsideAPhaseTakesItsTimeToo) {
  profiler_.enable(false);
  profiler_.begin_step();
  advance_us(100);  // other, from the step itself
  {
    ProfileScope backward(Phase::kBackward, profiler_);
    advance_us(1000);
    ProfileScope check(Phase::kOther, profiler_);
    advance_us(300);
  }
  profiler_.end_step();
  EXPECT_DOUBLE_EQ(seconds(Phase::kBackward, profiler_), 1e-3);
  EXPECT_DOUBLE_EQ(seconds(Phase::kOther, profiler_), 400e-6);
}

TEST_F(ProfilerTest, ScopesOutsideAStepReadNoClockAndCountNothing) {
  profiler_.enable(false);
  const int reads_after_enable = clock_reads;
  {
    ProfileScope scope(Phase::kForward, profiler_);
    advance_us(1000);
  }
  EXPECT_EQ(clock_reads, reads_after_enable);
  profiler_.end_step();
  EXPECT_EQ(profiler_.steps(), 1);
  EXPECT_EQ(sum_of_phases(profiler_), 0.0);
}

TEST_F(ProfilerTest, AddInjectsDurationsIntoTheCurrentStep) {
  profiler_.enable(false);
  profiler_.add(Phase::kAllreduceWait, 0.25);
  profiler_.add(Phase::kAllreduceWait, 0.5);
  profiler_.end_step();
  profiler_.add(Phase::kAllreduceWait, 0.25);
  profiler_.end_step();
  EXPECT_EQ(profiler_.steps(), 2);
  EXPECT_DOUBLE_EQ(seconds(Phase::kAllreduceWait, profiler_), 1.0);
  EXPECT_DOUBLE_EQ(profiler_.mean_ms_per_step()[static_cast<size_t>(Phase::kAllreduceWait)], 500.0);
}

TEST_F(ProfilerTest, AddRefusesNegativeAndNonFiniteDurations) {
  profiler_.enable(false);
  for (double bad :
       {-1e-9, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    try {
      profiler_.add(Phase::kForward, bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(e.message().find("'forward'"), std::string::npos) << e.message();
      EXPECT_NE(e.message().find("at least 0 seconds"), std::string::npos) << e.message();
    }
  }
  EXPECT_EQ(sum_of_phases(profiler_), 0.0);
}

TEST_F(ProfilerTest, ResetForgetsStepsAndScopesOpenAcrossItCountNothing) {
  profiler_.enable(true);
  profiler_.begin_step();
  advance_us(1000);
  profiler_.end_step();
  profiler_.begin_step();
  {
    ProfileScope scope(Phase::kBackward, profiler_);
    advance_us(1000);
    profiler_.reset();
    advance_us(1000);
  }
  profiler_.end_step();  // no step open after the reset: an empty step
  EXPECT_EQ(profiler_.steps(), 1);
  EXPECT_EQ(sum_of_phases(profiler_), 0.0);
  EXPECT_EQ(profiler_.trace_event_count(), 0u);
  EXPECT_TRUE(profiler_.enabled());
  EXPECT_TRUE(profiler_.tracing());
}

TEST_F(ProfilerTest, EndStepInsideAScopeStopsThatScopeCounting) {
  profiler_.enable(false);
  profiler_.begin_step();
  {
    ProfileScope scope(Phase::kOptimizer, profiler_);
    advance_us(1000);
    profiler_.end_step();
    profiler_.begin_step();
    advance_us(2000);  // the new step's "other": the old scope no longer counts
  }
  profiler_.end_step();
  EXPECT_EQ(profiler_.steps(), 2);
  EXPECT_DOUBLE_EQ(seconds(Phase::kOptimizer, profiler_), 1e-3);
  EXPECT_DOUBLE_EQ(seconds(Phase::kOther, profiler_), 2e-3);
}

TEST_F(ProfilerTest, DisableKeepsClosedStepsAndDropsTheOpenOne) {
  profiler_.enable(false);
  profiler_.add(Phase::kData, 0.125);
  profiler_.end_step();
  profiler_.begin_step();
  profiler_.add(Phase::kData, 1.0);
  profiler_.disable();
  EXPECT_FALSE(profiler_.enabled());
  EXPECT_EQ(profiler_.steps(), 1);
  EXPECT_DOUBLE_EQ(seconds(Phase::kData, profiler_), 0.125);
}

// Runs one traced step: data 1 ms, forward 2 ms, then an allreduce recorded on the comm lane.
void traced_step(Profiler& profiler) {
  profiler.begin_step(7);
  {
    ProfileScope data(Phase::kData, profiler);
    advance_us(1000);
  }
  {
    ProfileScope forward(Phase::kForward, profiler);
    advance_us(2000);
  }
  const Clock::time_point start = fake_time;
  advance_us(250);
  TraceArgs args;
  args.label = "gradient bucket \"1\" of 2\\";  // quotes and backslashes must be escaped
  args.bytes = 4096;
  args.sequence = 42;
  profiler.record_event("allreduce_sum", Lane::kComm, start, fake_time, args);
  profiler.end_step();
}

const nlohmann::json* find_event(const nlohmann::json& events, const std::string& name) {
  for (const nlohmann::json& event : events) {
    if (event.value("name", "") == name && event.value("ph", "") == "X") return &event;
  }
  return nullptr;
}

TEST_F(ProfilerTest, ChromeTraceIsValidJsonWithCompleteEventsPerLane) {
  profiler_.enable(true);
  advance_us(500);  // trace time starts at enable()
  traced_step(profiler_);
  testing::TempDir dir;
  const std::filesystem::path path = dir / "trace.json";
  profiler_.write_chrome_trace(path.string(), 3);
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));

  const nlohmann::json trace = nlohmann::json::parse(testing::read_file(path));
  ASSERT_TRUE(trace.contains("traceEvents"));
  const nlohmann::json& events = trace["traceEvents"];
  ASSERT_TRUE(events.is_array());
  int complete = 0;
  std::vector<std::string> lanes;
  for (const nlohmann::json& event : events) {
    EXPECT_EQ(event.at("pid"), 3) << event;
    if (event.at("ph") == "X") {
      ++complete;
      EXPECT_TRUE(event.at("ts").is_number()) << event;
      EXPECT_TRUE(event.at("dur").is_number()) << event;
      EXPECT_TRUE(event.at("tid") == 0 || event.at("tid") == 1) << event;
    } else if (event.at("name") == "thread_name") {
      lanes.push_back(std::to_string(event.at("tid").get<int>()) + ":" +
                      event.at("args").at("name").get<std::string>());
    }
  }
  EXPECT_EQ(complete, 4);  // step, data, forward, allreduce_sum
  EXPECT_EQ(lanes, (std::vector<std::string>{"0:compute", "1:comm"}));

  const nlohmann::json* forward = find_event(events, "forward");
  ASSERT_NE(forward, nullptr);
  EXPECT_DOUBLE_EQ(forward->at("ts").get<double>(), 1500.0);  // 0.5 ms + 1 ms of data
  EXPECT_DOUBLE_EQ(forward->at("dur").get<double>(), 2000.0);
  EXPECT_EQ(forward->at("tid"), 0);
  EXPECT_EQ(forward->at("args").at("step"), 7);

  const nlohmann::json* step = find_event(events, "step");
  ASSERT_NE(step, nullptr);
  EXPECT_DOUBLE_EQ(step->at("ts").get<double>(), 500.0);
  EXPECT_DOUBLE_EQ(step->at("dur").get<double>(), 3250.0);

  const nlohmann::json* allreduce = find_event(events, "allreduce_sum");
  ASSERT_NE(allreduce, nullptr);
  EXPECT_EQ(allreduce->at("tid"), 1);
  EXPECT_DOUBLE_EQ(allreduce->at("dur").get<double>(), 250.0);
  EXPECT_EQ(allreduce->at("args").at("label"), "gradient bucket \"1\" of 2\\");
  EXPECT_EQ(allreduce->at("args").at("bytes"), 4096);
  EXPECT_EQ(allreduce->at("args").at("sequence"), 42);
  EXPECT_FALSE(allreduce->at("args").contains("step"));  // unset fields stay out

  EXPECT_EQ(trace.at("otherData").at("dropped_events"), 0);
  EXPECT_EQ(trace.at("otherData").at("steps"), 1);
}

TEST_F(ProfilerTest, WithoutTraceNoEventsAreKept) {
  profiler_.enable(false);
  traced_step(profiler_);
  EXPECT_EQ(profiler_.steps(), 1);
  EXPECT_EQ(profiler_.trace_event_count(), 0u);
}

TEST_F(ProfilerTest, TraceSpanRecordsItsLifetimeWhenTracing) {
  profiler_.enable(true);
  {
    TraceSpan span("broadcast", Lane::kComm, profiler_);
    ASSERT_TRUE(span.active());
    span.args().bytes = 8;
    advance_us(300);
  }
  EXPECT_EQ(profiler_.trace_event_count(), 1u);
  testing::TempDir dir;
  profiler_.write_chrome_trace((dir / "span.json").string(), 0);
  const nlohmann::json trace = nlohmann::json::parse(testing::read_file(dir / "span.json"));
  const nlohmann::json* span = find_event(trace.at("traceEvents"), "broadcast");
  ASSERT_NE(span, nullptr);
  EXPECT_DOUBLE_EQ(span->at("dur").get<double>(), 300.0);
  EXPECT_EQ(span->at("args").at("bytes"), 8);
}

TEST_F(ProfilerTest, EventCapKeepsTheFirstEventsAndCountsTheRest) {
  profiler_.enable(true, 5);
  for (int i = 0; i < 8; ++i) {
    profiler_.record_event("allreduce_sum", Lane::kComm, fake_time, fake_time);
  }
  EXPECT_EQ(profiler_.trace_event_count(), 5u);
  EXPECT_EQ(profiler_.dropped_trace_events(), 3);
  testing::TempDir dir;
  profiler_.write_chrome_trace((dir / "capped.json").string(), 0);
  const nlohmann::json trace = nlohmann::json::parse(testing::read_file(dir / "capped.json"));
  int complete = 0;
  for (const nlohmann::json& event : trace.at("traceEvents")) complete += event.at("ph") == "X";
  EXPECT_EQ(complete, 5);
  EXPECT_EQ(trace.at("otherData").at("dropped_events"), 3);
}

TEST_F(ProfilerTest, WritingToAMissingFolderIsAClearError) {
  profiler_.enable(true);
  traced_step(profiler_);
  testing::TempDir dir;
  const std::string path = (dir / "no-such-folder" / "trace.json").string();
  try {
    profiler_.write_chrome_trace(path, 0);
    ADD_FAILURE() << "wrote to " << path;
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("cannot write the trace to '" + path + "'"), std::string::npos)
        << e.message();
    EXPECT_NE(e.message().find("No such file or directory"), std::string::npos) << e.message();
  }
}

}  // namespace
}  // namespace lockstep
