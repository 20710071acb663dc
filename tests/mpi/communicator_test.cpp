// MpiCommunicator at every rank count: each collective matches its closed form, also with
// empty and uneven partition slices; the split paths (chunk limit 7) give the same results;
// bad arguments throw on every rank before any communication; finished collectives are traced.
#include "lockstep/comm/communicator.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "comm/mpi/mpi_check.h"
#include "lockstep/base/error.h"
#include "lockstep/base/profiler.h"
#include "lockstep/comm/mpi_communicator.h"
#include "lockstep/data/partition.h"
#include "mpi_test.h"

namespace lockstep::comm {
namespace {

// Chunk limits under test: one MPI call per collective, and a limit of 7 elements that
// forces every split path on small buffers.
constexpr int64_t kTinyChunk = 7;

class Collectives : public ::testing::TestWithParam<int64_t> {
 protected:
  void SetUp() override { comm_ = make_mpi_world_communicator(GetParam()); }
  Communicator& comm() { return *comm_; }
  int rank() const { return comm_->rank(); }
  int size() const { return comm_->size(); }

 private:
  std::unique_ptr<Communicator> comm_;
};

unsigned char pattern(int owner, int64_t i) { return static_cast<unsigned char>(owner * 37 + i); }

// Global batches for the partition tests: empty, fewer rows than ranks, not divisible by the
// rank count, and large enough to cross several chunks.
std::vector<int64_t> batches(int ranks) { return {0, 1, ranks - 1, 7, 10, 13, 3 * ranks + 2}; }

// The index of the first element of `values` that differs from expected(i), or -1. Tests
// check whole buffers with EXPECT, never returning early, so that a rank that sees a wrong
// value still joins every later collective and the run fails instead of hanging.
template <typename T, typename Expected>
int64_t first_mismatch(const std::vector<T>& values, Expected expected) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] != expected(static_cast<int64_t>(i))) return static_cast<int64_t>(i);
  }
  return -1;
}

TEST_P(Collectives, WorldMatchesTheRuntime) {
  EXPECT_EQ(comm().name(), "mpi");
  EXPECT_EQ(rank(), testing::mpi_runtime().info().rank);
  EXPECT_EQ(size(), testing::mpi_runtime().info().size);
  EXPECT_EQ(size(), testing::mpi_world().size());
}

TEST_P(Collectives, BroadcastCopiesRootsBytesFromEveryRoot) {
  for (int64_t bytes : {int64_t{0}, int64_t{1}, int64_t{6}, int64_t{7}, int64_t{1001}}) {
    for (int root = 0; root < size(); ++root) {
      std::vector<unsigned char> data(static_cast<size_t>(bytes), 0xEE);
      if (rank() == root) {
        for (int64_t i = 0; i < bytes; ++i) data[static_cast<size_t>(i)] = pattern(root, i);
      }
      comm().broadcast(data.data(), bytes, root);
      EXPECT_EQ(first_mismatch(data, [&](int64_t i) { return pattern(root, i); }), -1)
          << bytes << " bytes from root " << root;
    }
  }
}

template <typename T>
void expect_allreduce_of_rank(Communicator& comm, int64_t count) {
  // Values are small integers, so every summation order gives the exact closed form.
  std::vector<T> data(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) data[static_cast<size_t>(i)] = T(comm.rank() + i % 5);
  comm.allreduce_sum(data.data(), count);
  const int n = comm.size();
  EXPECT_EQ(first_mismatch(data, [&](int64_t i) { return T(n * (n - 1) / 2 + n * (i % 5)); }), -1)
      << count << " elements of " << sizeof(T) << " bytes";
}

TEST_P(Collectives, AllreduceOfRankGivesTheSumOfRanks) {
  for (int64_t count : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{10007}}) {
    expect_allreduce_of_rank<float>(comm(), count);
    expect_allreduce_of_rank<double>(comm(), count);
  }
}

TEST_P(Collectives, ScattervDeliversEachRanksSliceInOrder) {
  constexpr int64_t kRowElements = 3;
  for (int64_t batch : batches(size())) {
    const auto layout = data::counts_and_displacements(batch, size(), kRowElements);
    const int64_t mine = layout.counts[static_cast<size_t>(rank())];
    const int64_t offset = layout.displacements[static_cast<size_t>(rank())];
    for (int root = 0; root < size(); ++root) {
      std::vector<float> send;
      if (rank() == root) {
        for (int64_t i = 0; i < batch * kRowElements; ++i) send.push_back(float(i));
      }
      std::vector<float> receive(static_cast<size_t>(mine), -1.0f);
      comm().scatterv(send.data(), layout.counts, layout.displacements, receive.data(), root);
      EXPECT_EQ(first_mismatch(receive, [&](int64_t k) { return float(offset + k); }), -1)
          << "batch " << batch << ", root " << root;
    }
  }
}

TEST_P(Collectives, GathervConcatenatesSlicesInRankOrder) {
  constexpr int64_t kRowElements = 2;
  for (int64_t batch : batches(size())) {
    const auto layout = data::counts_and_displacements(batch, size(), kRowElements);
    const int64_t mine = layout.counts[static_cast<size_t>(rank())];
    const int64_t offset = layout.displacements[static_cast<size_t>(rank())];
    std::vector<float> send;
    for (int64_t k = 0; k < mine; ++k) send.push_back(float(offset + k));
    for (int root = 0; root < size(); ++root) {
      std::vector<float> receive(rank() == root ? static_cast<size_t>(batch * kRowElements) : 0,
                                 -1.0f);
      comm().gatherv(send.data(), layout.counts, layout.displacements, receive.data(), root);
      EXPECT_EQ(first_mismatch(receive, [](int64_t i) { return float(i); }), -1)
          << "batch " << batch << ", root " << root;
    }
  }
}

TEST_P(Collectives, AllgatherPlacesEveryRanksBytesInRankOrder) {
  for (int64_t bytes : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{13}, int64_t{100}}) {
    std::vector<unsigned char> send(static_cast<size_t>(bytes));
    for (int64_t i = 0; i < bytes; ++i) send[static_cast<size_t>(i)] = pattern(rank(), i);
    std::vector<unsigned char> receive(static_cast<size_t>(bytes * size()), 0xEE);
    comm().allgather(send.data(), bytes, receive.data());
    // Byte i of the result is byte i % bytes of rank i / bytes.
    EXPECT_EQ(
        first_mismatch(receive, [&](int64_t i) { return pattern(int(i / bytes), i % bytes); }), -1)
        << bytes << " bytes each";
  }
}

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

TEST_P(Collectives, BadArgumentsThrowOnEveryRankBeforeCommunicating) {
  const auto n = static_cast<size_t>(size());
  const std::vector<int64_t> zeros(n, 0);
  float value = 0.0f;
  expect_error([&] { comm().broadcast(&value, 4, size()); }, "root must be a rank from 0");
  expect_error([&] { comm().broadcast(&value, 4, -1); }, "root must be a rank from 0");
  expect_error([&] { comm().broadcast(&value, -4, 0); }, "bytes must be at least 0");
  expect_error([&] { comm().allreduce_sum(&value, -1); }, "count must be at least 0");
  expect_error([&] { comm().allreduce_sum(static_cast<float*>(nullptr), 3); }, "is null");
  expect_error([&] { comm().allgather(&value, -1, &value); }, "bytes must be at least 0");
  const std::vector<int64_t> one_too_many(n + 1, 0);
  expect_error([&] { comm().scatterv(&value, one_too_many, zeros, &value, 0); },
               "counts must have one entry per rank");
  expect_error([&] { comm().gatherv(&value, zeros, one_too_many, &value, 0); },
               "displacements must have one entry per rank");
  std::vector<int64_t> negative = zeros;
  negative.back() = -1;
  expect_error([&] { comm().scatterv(&value, negative, zeros, &value, 0); },
               "must be at least 0, found -1");
  expect_error([&] { comm().gatherv(&value, zeros, negative, &value, 0); },
               "must be at least 0, found -1");
  expect_error([&] { comm().gatherv(&value, zeros, zeros, &value, size()); },
               "root must be a rank from 0");
  if (size() > 1) {
    const std::vector<int64_t> twos(n, 2);  // every rank's region starts at element 0
    expect_error([&] { comm().gatherv(&value, twos, zeros, &value, 0); }, "overlap");
  }
  // Nobody communicated: the ranks are still in step for the next collective.
  double one = 1.0;
  comm().allreduce_sum(&one, 1);
  EXPECT_EQ(one, double(size()));
  comm().barrier();
}

std::string chunk_name(const ::testing::TestParamInfo<int64_t>& chunk) {
  return chunk.param == kMpiMaxChunk ? std::string("OneCall")
                                     : "Chunks" + std::to_string(chunk.param);
}

INSTANTIATE_TEST_SUITE_P(ChunkLimits, Collectives, ::testing::Values(kMpiMaxChunk, kTinyChunk),
                         chunk_name);

TEST(MpiCommunicator, RejectsChunkLimitsOutsideOneToIntMax) {
  expect_error([] { make_mpi_world_communicator(0); }, "max_chunk must be from 1");
  expect_error([] { make_mpi_world_communicator(kMpiMaxChunk + 1); }, "max_chunk must be from 1");
}

TEST(MpiCheck, ErrorNamesTheCallMpisDescriptionAndTheRank) {
  char description[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  ASSERT_EQ(MPI_Error_string(MPI_ERR_COUNT, description, &length), MPI_SUCCESS);
  const int rank = testing::mpi_world().rank();
  try {
    LOCKSTEP_MPI_CHECK(MPI_ERR_COUNT);
    ADD_FAILURE() << "LOCKSTEP_MPI_CHECK let an error code pass";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("MPI error on rank " + std::to_string(rank)), std::string::npos) << what;
    EXPECT_NE(what.find("MPI_ERR_COUNT"), std::string::npos) << what;
    EXPECT_NE(what.find(std::string(description, static_cast<size_t>(length))), std::string::npos)
        << what;
  }
  EXPECT_NO_THROW(LOCKSTEP_MPI_CHECK(MPI_SUCCESS));
}

// What `train --trace` shows of communication: every finished collective, blocking or started,
// is one event on the comm lane with its name, label, step, bytes and sequence number.
TEST(CollectiveTrace, FinishedCollectivesCarryLabelStepBytesAndSequence) {
  Communicator& world = testing::mpi_world();
  Profiler& p = profiler();
  p.enable(true);
  p.reset();
  const int64_t saved_step = world.step();
  world.set_step(7);
  const int64_t first = world.sequence();
  std::vector<float> values(10, 1.0f);
  {
    const ScopedLabel label(world, "trace test");
    world.allreduce_sum(values.data(), 10);
  }
  std::vector<double> sums(3, 1.0);
  const int64_t handle = world.start_allreduce_sum(sums.data(), 3);
  {
    const ScopedLabel label(world, "finished elsewhere");  // the start's label counts
    world.finish(handle);
  }
  world.set_step(saved_step);
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("lockstep_trace_" + std::to_string(::getpid()) + ".json"))
                               .string();
  p.write_chrome_trace(path, world.rank());
  p.disable();
  std::ifstream in(path);
  const nlohmann::json trace = nlohmann::json::parse(in);
  std::filesystem::remove(path);
  std::vector<nlohmann::json> collectives;
  for (const nlohmann::json& event : trace["traceEvents"]) {
    if (event.value("cat", "") == "comm" && event.value("ph", "") == "X") {
      collectives.push_back(event);
    }
  }
  ASSERT_EQ(collectives.size(), 2u) << trace.dump();
  EXPECT_EQ(collectives[0]["name"], "allreduce_sum");
  EXPECT_EQ(collectives[0]["args"]["label"], "trace test");
  EXPECT_EQ(collectives[0]["args"]["step"], 7);
  EXPECT_EQ(collectives[0]["args"]["bytes"], 40);
  EXPECT_EQ(collectives[0]["args"]["sequence"], first);
  EXPECT_EQ(collectives[1]["name"], "allreduce_sum");
  EXPECT_EQ(collectives[1]["args"].value("label", ""), "");
  EXPECT_EQ(collectives[1]["args"]["bytes"], 24);
  EXPECT_EQ(collectives[1]["args"]["sequence"], first + 1);
}

}  // namespace
}  // namespace lockstep::comm
