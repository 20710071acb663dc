// Fault injection (LOCKSTEP_FAULT): the spec parser accepts every documented kind and rejects
// malformed values with an Error naming the wrong part; each fault does what it names (ends
// the process by signal or exit code, throws, never returns); the environment hook fires on
// the named rank and step only. Tests that read the environment run in a fresh process
// (death tests of the "threadsafe" style), since the variable is parsed once per process.
#include "lockstep/runtime/fault_injection.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <string>

#include "lockstep/base/error.h"

namespace lockstep::runtime {
namespace {

// Expects parse_fault_spec(text) to throw an Error whose message contains `expected`.
void expect_rejected(const std::string& text, const std::string& expected) {
  try {
    parse_fault_spec(text);
    ADD_FAILURE() << "expected '" << text << "' to be rejected";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find(expected), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("LOCKSTEP_FAULT='" + text + "'"), std::string::npos) << e.message();
  }
}

TEST(FaultSpec, EmptyIsNoFault) { EXPECT_EQ(parse_fault_spec("").kind, FaultKind::kNone); }

TEST(FaultSpec, ParsesEveryKind) {
  const struct {
    const char* text;
    FaultKind kind;
  } cases[] = {{"sigkill:2:3", FaultKind::kSigkill},
               {"sigsegv:2:3", FaultKind::kSigsegv},
               {"throw:2:3", FaultKind::kThrow},
               {"hang:2:3", FaultKind::kHang},
               {"kill_in_checkpoint:2:3", FaultKind::kKillInCheckpoint}};
  for (const auto& c : cases) {
    const FaultSpec spec = parse_fault_spec(c.text);
    EXPECT_EQ(spec.kind, c.kind) << c.text;
    EXPECT_EQ(spec.rank, 2) << c.text;
    EXPECT_EQ(spec.step, 3) << c.text;
    EXPECT_EQ(fault_kind_name(spec.kind) + ":2:3", c.text);
  }
}

TEST(FaultSpec, ExitCarriesItsCodeBeforeRankAndStep) {
  const FaultSpec spec = parse_fault_spec("exit:5:0:12");
  EXPECT_EQ(spec.kind, FaultKind::kExit);
  EXPECT_EQ(spec.exit_code, 5);
  EXPECT_EQ(spec.rank, 0);
  EXPECT_EQ(spec.step, 12);
}

TEST(FaultSpec, RejectsMalformedValuesNamingThePart) {
  expect_rejected("reboot:1:2", "unknown fault kind 'reboot'");
  expect_rejected("SIGKILL:1:2", "unknown fault kind");
  expect_rejected("sigkill", "found 1 fields");
  expect_rejected("sigkill:1", "found 2 fields");
  expect_rejected("sigkill:1:2:3", "found 4 fields");
  expect_rejected("exit:1:2", "exit:CODE:rank:step");
  expect_rejected("sigkill:x:2", "the rank must be a whole number, found 'x'");
  expect_rejected("sigkill::2", "the rank must be a whole number, found ''");
  expect_rejected("sigkill:-1:2", "the rank must be from 0");
  expect_rejected("sigkill:1:0", "the step (counted from 1) must be from 1");
  expect_rejected("sigkill:1:3.5", "the step (counted from 1) must be a whole number");
  expect_rejected("sigkill:1:99999999999999999999", "must be a whole number");
  expect_rejected("exit:256:1:2", "the exit code must be from 0 to 255, found 256");
  expect_rejected("exit:x:1:2", "the exit code must be a whole number");
}

TEST(RaiseFault, NoneReturnsAndThrowThrowsError) {
  EXPECT_NO_THROW(raise_fault(FaultSpec{}));
  FaultSpec spec = parse_fault_spec("throw:1:4");
  try {
    raise_fault(spec);
    ADD_FAILURE() << "throw did not throw";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("injected failure on rank 1 at step 4"), std::string::npos)
        << e.message();
  }
}

TEST(RaiseFault, SignalsAndExitEndTheProcess) {
  EXPECT_EXIT(raise_fault(parse_fault_spec("sigkill:0:1")), ::testing::KilledBySignal(SIGKILL), "");
  EXPECT_EXIT(raise_fault(parse_fault_spec("kill_in_checkpoint:0:1")),
              ::testing::KilledBySignal(SIGKILL), "");
  EXPECT_EXIT(raise_fault(parse_fault_spec("sigsegv:0:1")), ::testing::KilledBySignal(SIGSEGV), "");
  EXPECT_EXIT(raise_fault(parse_fault_spec("exit:5:0:1")), ::testing::ExitedWithCode(5), "");
}

TEST(RaiseFault, HangNeverReturns) {
  // Still asleep when the alarm ends the process a second later.
  EXPECT_EXIT(
      {
        alarm(1);
        raise_fault(parse_fault_spec("hang:0:1"));
        std::_Exit(0);
      },
      ::testing::KilledBySignal(SIGALRM), "");
}

// The environment hook, each in a fresh process.
class FaultFromEnvironment : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(FaultFromEnvironment, FiresOnTheNamedRankAndStepOnly) {
  EXPECT_EXIT(
      {
        setenv("LOCKSTEP_FAULT", "exit:7:2:3", 1);
        for (int rank = 0; rank < 4; ++rank) {
          for (int64_t step = 1; step <= 5; ++step) {
            if (rank != 2 || step != 3) inject_fault_at_step(rank, step);
          }
        }
        inject_fault_in_checkpoint(2, 3);  // not a checkpoint fault
        std::_Exit(fault_requested(FaultKind::kExit, 2, 3) ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
  EXPECT_EXIT(
      {
        setenv("LOCKSTEP_FAULT", "exit:7:2:3", 1);
        inject_fault_at_step(2, 3);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(7), "LOCKSTEP_FAULT: injecting exit on rank 2 at step 3");
}

TEST_F(FaultFromEnvironment, UnsetOrEmptyIsNoFault) {
  EXPECT_EXIT(
      {
        unsetenv("LOCKSTEP_FAULT");
        inject_fault_at_step(0, 1);
        inject_fault_in_checkpoint(0);
        std::_Exit(fault_spec().kind == FaultKind::kNone ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(FaultFromEnvironment, CheckpointFaultFiresFromItsStepOn) {
  EXPECT_EXIT(
      {
        setenv("LOCKSTEP_FAULT", "kill_in_checkpoint:0:5", 1);
        inject_fault_at_step(0, 5);        // not a step fault
        inject_fault_in_checkpoint(0, 4);  // before its step
        inject_fault_in_checkpoint(1, 9);  // another rank
        inject_fault_at_step(0, 4);
        inject_fault_in_checkpoint(0);  // the last step seen is 4
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
  EXPECT_EXIT(
      {
        setenv("LOCKSTEP_FAULT", "kill_in_checkpoint:0:5", 1);
        inject_fault_at_step(0, 6);
        inject_fault_in_checkpoint(0);  // a checkpoint of step 6, past the fault's step
        std::_Exit(0);
      },
      ::testing::KilledBySignal(SIGKILL), "injecting kill_in_checkpoint on rank 0 at step 6");
}

TEST_F(FaultFromEnvironment, MalformedValueIsAnErrorOnEveryCall) {
  EXPECT_EXIT(
      {
        setenv("LOCKSTEP_FAULT", "sigkill:one:3", 1);
        int errors = 0;
        for (int i = 0; i < 2; ++i) {
          try {
            inject_fault_at_step(0, 3);
          } catch (const Error& e) {
            if (std::string(e.what()).find("the rank must be a whole number") !=
                std::string::npos) {
              ++errors;
            }
          }
        }
        std::_Exit(errors == 2 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace lockstep::runtime
