// Runtime in a program started alone (no mpirun): a world of one, rank 0, with a working world
// communicator; MPI builds start MPI by themselves (singleton). run_guarded on one rank
// returns the body's code, or the exit code of the error after printing "[rank 0] error:".
#include "lockstep/runtime/runtime.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "lockstep/base/error.h"
#include "support/capture_stream.h"

namespace lockstep::runtime {
namespace {

// MPI starts once per process, so every test shares one Runtime, started on first use.
Runtime& alone() {
  static Runtime runtime(nullptr, nullptr);
  return runtime;
}

TEST(RuntimeAlone, IsAWorldOfOne) {
  const ProcessInfo& info = alone().info();
  EXPECT_EQ(info.rank, 0);
  EXPECT_EQ(info.size, 1);
  EXPECT_EQ(info.local_rank, 0);
  EXPECT_EQ(info.local_size, 1);
  EXPECT_GE(info.blas_threads, 1);
  EXPECT_EQ(alone().world().size(), 1);
  EXPECT_EQ(alone().world().rank(), 0);
#if defined(LOCKSTEP_WITH_MPI)
  EXPECT_TRUE(info.mpi);
  EXPECT_NE(info.thread_level, "none");
  EXPECT_EQ(alone().world().name(), "mpi");
#else
  EXPECT_FALSE(info.mpi);
  EXPECT_EQ(info.thread_level, "none");
  EXPECT_EQ(alone().world().name(), "local");
#endif
}

TEST(RuntimeAlone, WorldCommunicatorWorks) {
  double value = 2.5;
  alone().world().allreduce_sum(&value, 1);
  alone().world().barrier();
  EXPECT_EQ(value, 2.5);
}

TEST(RunGuarded, ReturnsTheBodysCode) {
  EXPECT_EQ(run_guarded(alone(), [] { return 7; }), 7);
  EXPECT_EQ(run_guarded(alone(), [] { return kExitOk; }), kExitOk);
}

TEST(RunGuarded, ALockstepErrorIsBadInput) {
  testing::CapturedStream err(stderr);
  const int code = run_guarded(alone(), []() -> int { LOCKSTEP_THROW("no such file: x.npy"); });
  const std::string text = err.text();
  EXPECT_EQ(code, kExitBadInput);
  EXPECT_EQ(text.rfind("[rank 0] error: no such file: x.npy", 0), 0u) << text;
}

TEST(RunGuarded, AnyOtherExceptionIsAFailure) {
  testing::CapturedStream err(stderr);
  const int code = run_guarded(alone(), []() -> int { throw std::runtime_error("out of disk"); });
  const std::string text = err.text();
  EXPECT_EQ(code, kExitFailure);
  EXPECT_EQ(text, "[rank 0] error: out of disk\n");
}

TEST(RunGuarded, SomethingThatIsNoExceptionIsAFailure) {
  testing::CapturedStream err(stderr);
  const int code = run_guarded(alone(), []() -> int { throw 42; });
  EXPECT_EQ(code, kExitFailure);
  EXPECT_NE(err.text().find("[rank 0] error: unknown exception"), std::string::npos);
}

}  // namespace
}  // namespace lockstep::runtime
