// Collectives under a deadline: with a deadline set, every collective (also split into chunks,
// also large allreduces) still gives its closed form; a peer that is late but within the deadline
// is no timeout; every rank numbers its collectives alike (the sequence number a timeout report
// names), also zero-byte ones; labels are scoped; a negative or NaN deadline is refused. What
// happens past the deadline is checked on whole jobs (fault tests), since it ends the job.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/comm/communicator.h"
#include "lockstep/comm/mpi_communicator.h"
#include "lockstep/data/partition.h"
#include "mpi_test.h"

namespace lockstep::comm {
namespace {

constexpr double kGenerousDeadline = 60.0;

// Every rank's value of `mine`, in rank order.
std::vector<int64_t> gathered(Communicator& comm, int64_t mine) {
  std::vector<int64_t> all(static_cast<size_t>(comm.size()));
  comm.allgather(&mine, sizeof(mine), all.data());
  return all;
}

class UnderDeadline : public ::testing::TestWithParam<int64_t> {
 protected:
  void SetUp() override {
    comm_ = make_mpi_world_communicator(GetParam());
    comm_->set_deadline(kGenerousDeadline);
  }
  Communicator& comm() { return *comm_; }

 private:
  std::unique_ptr<Communicator> comm_;
};

TEST_P(UnderDeadline, EveryCollectiveGivesItsClosedForm) {
  const int n = comm().size(), rank = comm().rank();
  std::vector<double> sums(1001, double(rank));
  comm().allreduce_sum(sums.data(), static_cast<int64_t>(sums.size()));
  EXPECT_EQ(sums.front(), n * (n - 1) / 2.0);
  EXPECT_EQ(sums.back(), n * (n - 1) / 2.0);

  std::vector<int> bytes(37, rank == n - 1 ? 7 : 0);
  comm().broadcast(bytes.data(), static_cast<int64_t>(bytes.size() * sizeof(int)), n - 1);
  EXPECT_EQ(bytes.back(), 7);

  const std::vector<int64_t> ranks = gathered(comm(), rank);
  for (int r = 0; r < n; ++r) EXPECT_EQ(ranks[static_cast<size_t>(r)], r);

  const int64_t batch = 3 * n + 2;
  const auto layout = data::counts_and_displacements(batch, n, 5);
  const auto mine = static_cast<size_t>(layout.counts[static_cast<size_t>(rank)]);
  std::vector<float> all(static_cast<size_t>(batch * 5)), part(mine, -1.0f);
  for (size_t i = 0; i < all.size(); ++i) all[i] = float(i);
  comm().scatterv(all.data(), layout.counts, layout.displacements, part.data(), 0);
  std::vector<float> back(all.size(), -1.0f);
  comm().gatherv(part.data(), layout.counts, layout.displacements, back.data(), 0);
  if (rank == 0) {
    EXPECT_EQ(back, all);
  }
  comm().barrier();
}

// Large buffers take another allreduce algorithm than small ones (allreduce_algorithm.h).
template <typename T>
void expect_large_allreduce(Communicator& comm) {
  constexpr int64_t kCount = 100003;  // 400 KB of float, 800 KB of double
  const int n = comm.size();
  std::vector<T> data(kCount);
  for (int64_t i = 0; i < kCount; ++i) data[static_cast<size_t>(i)] = T(comm.rank() + i % 5);
  comm.allreduce_sum(data.data(), kCount);
  int64_t wrong = 0;
  for (int64_t i = 0; i < kCount; ++i) {
    wrong += data[static_cast<size_t>(i)] != T(n * (n - 1) / 2 + n * (i % 5));
  }
  EXPECT_EQ(wrong, 0) << sizeof(T) << "-byte elements";
}

TEST_P(UnderDeadline, LargeAllreduceGivesItsClosedForm) {
  if (GetParam() != kMpiMaxChunk) GTEST_SKIP() << "large buffers in one call only";
  expect_large_allreduce<float>(comm());
  expect_large_allreduce<double>(comm());
}

TEST_P(UnderDeadline, LatePeerWithinTheDeadlineIsNoTimeout) {
  comm().set_deadline(5.0);
  // Rank 0 arrives 300 ms late, long past the spinning and yielding phases of the wait.
  if (comm().rank() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  double one = 1.0;
  comm().allreduce_sum(&one, 1);
  EXPECT_EQ(one, double(comm().size()));
  comm().barrier();
}

std::string chunk_name(const ::testing::TestParamInfo<int64_t>& chunk) {
  return chunk.param == kMpiMaxChunk ? std::string("OneCall")
                                     : "Chunks" + std::to_string(chunk.param);
}

INSTANTIATE_TEST_SUITE_P(ChunkLimits, UnderDeadline, ::testing::Values(kMpiMaxChunk, 7),
                         chunk_name);

TEST(Sequence, CountsEveryCollectiveAlikeOnEveryRank) {
  auto comm = make_mpi_world_communicator();
  EXPECT_EQ(comm->sequence(), 0);
  const int n = comm->size();
  float value = 1.0f;
  double wide = 1.0;
  comm->broadcast(&value, sizeof(value), 0);
  comm->allreduce_sum(&value, 1);
  comm->allreduce_sum(&wide, 1);
  comm->allgather(&value, 0, &value);  // nothing moves, but it is a collective all the same
  const std::vector<int64_t> zeros(static_cast<size_t>(n), 0);
  comm->scatterv(nullptr, zeros, zeros, nullptr, 0);
  comm->gatherv(nullptr, zeros, zeros, nullptr, 0);
  comm->barrier();
  EXPECT_EQ(comm->sequence(), 7);
  // A call refused by its argument checks is not counted: nobody communicated.
  EXPECT_THROW(comm->broadcast(&value, -1, 0), Error);
  EXPECT_EQ(comm->sequence(), 7);
  const std::vector<int64_t> all = gathered(*comm, comm->sequence());
  for (int64_t s : all) EXPECT_EQ(s, 7);
  EXPECT_EQ(comm->sequence(), 8);
}

TEST(Label, IsScopedAndRestored) {
  auto comm = make_mpi_world_communicator();
  EXPECT_EQ(comm->label(), "");
  {
    const ScopedLabel outer(*comm, "metrics");
    EXPECT_EQ(comm->label(), "metrics");
    {
      const ScopedLabel inner(*comm, "gradient bucket 1 of 2");
      EXPECT_EQ(comm->label(), "gradient bucket 1 of 2");
    }
    EXPECT_EQ(comm->label(), "metrics");
  }
  EXPECT_EQ(comm->label(), "");
  comm->set_step(12);
  EXPECT_EQ(comm->step(), 12);
}

TEST(Deadline, ZeroOrInfinityIsNoneNegativeOrNaNIsRefused) {
  auto comm = make_mpi_world_communicator();
  EXPECT_EQ(comm->deadline(), 0.0);
  comm->set_deadline(3.0);
  EXPECT_EQ(comm->deadline(), 3.0);
  comm->set_deadline(std::numeric_limits<double>::infinity());
  EXPECT_EQ(comm->deadline(), 0.0);
  try {
    comm->set_deadline(-1.0);
    ADD_FAILURE() << "a negative deadline was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at least 0 seconds (0: none), found -1"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(comm->set_deadline(std::nan("")), Error);
  EXPECT_EQ(comm->deadline(), 0.0);
}

}  // namespace
}  // namespace lockstep::comm
