// Runtime under mpiexec: the process description agrees with the world communicator, node
// ranks are consistent across the job, MPI granted a known thread level, and the BLAS thread
// count follows OPENBLAS_NUM_THREADS.
#include "lockstep/runtime/runtime.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "mpi_test.h"

namespace lockstep::runtime {
namespace {

TEST(Runtime, DescribesThisRankOfTheWorld) {
  const ProcessInfo& info = testing::mpi_runtime().info();
  comm::Communicator& world = testing::mpi_world();
  EXPECT_TRUE(info.mpi);
  EXPECT_EQ(info.rank, world.rank());
  EXPECT_EQ(info.size, world.size());
  EXPECT_EQ(logging::rank(), info.rank);
  const std::set<std::string> levels = {"multiple", "serialized", "funneled", "single"};
  EXPECT_TRUE(levels.count(info.thread_level)) << info.thread_level;
}

TEST(Runtime, LocalRanksNumberTheProcessesOfEachNode) {
  const ProcessInfo& info = testing::mpi_runtime().info();
  EXPECT_GE(info.local_size, 1);
  EXPECT_LE(info.local_size, info.size);
  EXPECT_GE(info.local_rank, 0);
  EXPECT_LT(info.local_rank, info.local_size);
  // No early return above: every rank must join the allreduce.
  // Each node has one local rank 0, and its local_size ranks each add 1/local_size: both sums
  // count the nodes.
  std::vector<double> sums = {info.local_rank == 0 ? 1.0 : 0.0, 1.0 / info.local_size};
  testing::mpi_world().allreduce_sum(sums.data(), 2);
  EXPECT_NEAR(sums[0], sums[1], 1e-9);
}

TEST(Runtime, BlasThreadsFollowTheEnvironment) {
  const ProcessInfo& info = testing::mpi_runtime().info();
  EXPECT_GE(info.blas_threads, 1);
  const char* requested = std::getenv("OPENBLAS_NUM_THREADS");
  if (requested != nullptr && std::string(requested) == "1") {
    EXPECT_EQ(info.blas_threads, 1);
  }
}

TEST(Runtime, ASecondRuntimeSharesMpiAndLeavesItRunning) {
  {
    Runtime second(nullptr, nullptr);  // MPI is already running: no init, no finalize
    EXPECT_EQ(second.info().rank, testing::mpi_runtime().info().rank);
    EXPECT_EQ(second.info().size, testing::mpi_runtime().info().size);
    EXPECT_EQ(second.info().thread_level, testing::mpi_runtime().info().thread_level);
    second.world().barrier();
  }
  double one = 1.0;
  testing::mpi_world().allreduce_sum(&one, 1);
  EXPECT_EQ(one, double(testing::mpi_runtime().info().size));
}

}  // namespace
}  // namespace lockstep::runtime
