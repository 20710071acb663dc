// configure_blas_threads: a count the user chose through OPENBLAS_NUM_THREADS or
// OMP_NUM_THREADS stays in force; otherwise ranks of one node share its cores, at least one
// thread each; the returned count is the one OpenBLAS uses.
#include <cblas.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "lockstep/base/error.h"
#include "lockstep/runtime/runtime.h"

namespace lockstep::runtime {
namespace {

// Saves the variables and OpenBLAS's count, and puts them back after each test.
class BlasThreads : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_threads_ = openblas_get_num_threads();
    for (int i = 0; i < 2; ++i) saved_[i] = read(kNames[i]);
    unsetenv("OPENBLAS_NUM_THREADS");
    unsetenv("OMP_NUM_THREADS");
  }
  void TearDown() override {
    for (int i = 0; i < 2; ++i) {
      if (saved_[i]) {
        setenv(kNames[i], saved_[i]->c_str(), 1);
      } else {
        unsetenv(kNames[i]);
      }
    }
    openblas_set_num_threads(saved_threads_);
  }

  static constexpr const char* kNames[2] = {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"};

 private:
  static std::optional<std::string> read(const char* name) {
    const char* value = std::getenv(name);
    return value ? std::optional<std::string>(value) : std::nullopt;
  }

  int saved_threads_ = 1;
  std::optional<std::string> saved_[2];
};

TEST_F(BlasThreads, OpenblasNumThreadsKeepsTheCountInForce) {
  openblas_set_num_threads(2);
  const int chosen = openblas_get_num_threads();
  setenv("OPENBLAS_NUM_THREADS", "2", 1);
  EXPECT_EQ(configure_blas_threads(64), chosen);
  EXPECT_EQ(openblas_get_num_threads(), chosen);
}

TEST_F(BlasThreads, OmpNumThreadsKeepsTheCountInForce) {
  openblas_set_num_threads(2);
  const int chosen = openblas_get_num_threads();
  setenv("OMP_NUM_THREADS", "2", 1);
  EXPECT_EQ(configure_blas_threads(64), chosen);
  EXPECT_EQ(openblas_get_num_threads(), chosen);
}

TEST_F(BlasThreads, EmptyVariablesCountAsUnset) {
  setenv("OPENBLAS_NUM_THREADS", "", 1);
  EXPECT_EQ(configure_blas_threads(100000), 1);
}

TEST_F(BlasThreads, RanksOfACrowdedNodeGetOneThreadEach) {
  EXPECT_EQ(configure_blas_threads(100000), 1);
  EXPECT_EQ(openblas_get_num_threads(), 1);
}

TEST_F(BlasThreads, ALoneRankUsesItsCores) {
  const int threads = configure_blas_threads(1);
  EXPECT_GE(threads, 1);
  EXPECT_EQ(threads, openblas_get_num_threads());
}

TEST_F(BlasThreads, RejectsANodeWithoutProcesses) {
  EXPECT_THROW(configure_blas_threads(0), Error);
}

}  // namespace
}  // namespace lockstep::runtime
