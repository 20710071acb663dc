// LocalCommunicator: a group of one whose collectives are copies (scatterv/gatherv honour the
// displacement, allgather copies, broadcast and allreduce leave data as is) and whose
// argument checks match the MPI communicator's, so mistakes show without mpirun.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/comm/communicator.h"
#include "lockstep/comm/mpi_communicator.h"

namespace lockstep::comm {
namespace {

// Expects `call` to throw lockstep::Error whose message contains `expected`.
template <typename Call>
void expect_error(Call call, const std::string& expected) {
  try {
    call();
    ADD_FAILURE() << "expected an Error containing '" << expected << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
}

TEST(LocalCommunicator, IsRankZeroOfOne) {
  auto comm = make_local_communicator();
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->size(), 1);
  EXPECT_EQ(comm->name(), "local");
  comm->barrier();
}

// A host communicator moves host memory only and is its own communicator for host buffers.
TEST(LocalCommunicator, MovesHostMemoryOnlyAndIsItsOwnHost) {
  auto comm = make_local_communicator();
  EXPECT_FALSE(comm->moves_device_memory());
  EXPECT_EQ(&comm->host(), comm.get());
}

TEST(LocalCommunicator, BroadcastAndAllreduceLeaveTheDataAsIs) {
  auto comm = make_local_communicator();
  std::vector<float> f = {1.5f, -2.0f, 3.25f};
  std::vector<double> d = {0.1, 0.2};
  std::vector<unsigned char> bytes = {7, 8, 9};
  comm->allreduce_sum(f.data(), 3);
  comm->allreduce_sum(d.data(), 2);
  comm->broadcast(bytes.data(), 3, 0);
  EXPECT_EQ(f, (std::vector<float>{1.5f, -2.0f, 3.25f}));
  EXPECT_EQ(d, (std::vector<double>{0.1, 0.2}));
  EXPECT_EQ(bytes, (std::vector<unsigned char>{7, 8, 9}));
  comm->allreduce_sum(static_cast<float*>(nullptr), 0);  // empty buffers are fine
}

TEST(LocalCommunicator, ScattervCopiesTheSliceAtTheDisplacement) {
  auto comm = make_local_communicator();
  const std::vector<float> send = {0, 1, 2, 3, 4, 5};
  std::vector<float> receive(3, -1.0f);
  comm->scatterv(send.data(), {3}, {2}, receive.data(), 0);
  EXPECT_EQ(receive, (std::vector<float>{2, 3, 4}));
}

TEST(LocalCommunicator, GathervWritesTheSliceAtTheDisplacement) {
  auto comm = make_local_communicator();
  const std::vector<float> send = {7, 8};
  std::vector<float> receive(4, -1.0f);
  comm->gatherv(send.data(), {2}, {1}, receive.data(), 0);
  EXPECT_EQ(receive, (std::vector<float>{-1, 7, 8, -1}));
}

TEST(LocalCommunicator, AllgatherCopiesTheOneContribution) {
  auto comm = make_local_communicator();
  const std::vector<unsigned char> send = {1, 2, 3, 4};
  std::vector<unsigned char> receive(4, 0);
  comm->allgather(send.data(), 4, receive.data());
  EXPECT_EQ(receive, send);
}

TEST(LocalCommunicator, RejectsArgumentsThatDoNotDescribeOneRank) {
  auto comm = make_local_communicator();
  float value = 0.0f;
  expect_error([&] { comm->broadcast(&value, 4, 1); }, "root must be a rank from 0 to 0, found 1");
  expect_error([&] { comm->broadcast(&value, -1, 0); }, "bytes must be at least 0, found -1");
  expect_error([&] { comm->allreduce_sum(&value, -2); }, "count must be at least 0, found -2");
  expect_error([&] { comm->allreduce_sum(static_cast<double*>(nullptr), 2); }, "data is null");
  expect_error([&] { comm->allgather(&value, -1, &value); }, "bytes must be at least 0");
  expect_error(
      [&] {
        comm->scatterv(&value, {1, 0}, {0, 1}, &value, 0);
      },
      "counts must have one entry per rank (1), found 2");
  expect_error([&] { comm->gatherv(&value, {1}, {}, &value, 0); },
               "displacements must have one entry per rank (1), found 0");
  expect_error([&] { comm->scatterv(&value, {-1}, {0}, &value, 0); },
               "counts[0] must be at least 0, found -1");
  expect_error([&] { comm->gatherv(&value, {1}, {-3}, &value, 0); },
               "displacements[0] must be at least 0, found -3");
  expect_error([&] { comm->gatherv(&value, {1}, {0}, &value, -1); }, "root must be a rank");
  expect_error([&] { comm->scatterv(nullptr, {1}, {0}, &value, 0); }, "send is null");
  expect_error([&] { comm->scatterv(&value, {INT64_MAX}, {1}, &value, 0); }, "overflows int64");
}

#if !defined(LOCKSTEP_WITH_MPI)
TEST(MpiCommunicator, FactorySaysTheBuildHasNoMpi) {
  expect_error([] { make_mpi_world_communicator(); }, "built without MPI");
}
#endif

}  // namespace
}  // namespace lockstep::comm
