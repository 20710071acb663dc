// GoogleTest main of the MPI tests: rank 0 prints the usual report; other ranks print only
// their failures, tagged with the rank; the failure count is summed over ranks at the end, so
// every rank exits alike and a failure on any rank fails the run.
#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>

#include "lockstep/base/error.h"
#include "lockstep/runtime/runtime.h"
#include "mpi_test.h"

namespace lockstep::testing {

namespace {

runtime::Runtime* g_runtime = nullptr;

// Replaces the default printer on ranks other than 0: silent unless something fails.
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}

  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::ostringstream out;
    out << "[rank " << rank_ << "] " << (result.file_name() ? result.file_name() : "unknown file")
        << ":" << result.line_number() << ": Failure\n"
        << result.message() << "\n";
    emit(out.str());
  }

  void OnTestEnd(const ::testing::TestInfo& test) override {
    if (!test.result()->Failed()) return;
    emit("[rank " + std::to_string(rank_) + "] FAILED " + test.test_suite_name() + "." +
         test.name() + "\n");
  }

 private:
  static void emit(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
  }

  int rank_;
};

void install_rank_printer(int rank) {
  if (rank == 0) return;
  ::testing::TestEventListeners& listeners = ::testing::UnitTest::GetInstance()->listeners();
  delete listeners.Release(listeners.default_result_printer());
  listeners.Append(new RankFailurePrinter(rank));
}

// Runs every test; returns the number of ranks on which something failed.
int run_on_every_rank(runtime::Runtime& runtime) {
  install_rank_printer(runtime.info().rank);
  double failed = RUN_ALL_TESTS() == 0 ? 0.0 : 1.0;
  runtime.world().allreduce_sum(&failed, 1);
  const int failed_ranks = static_cast<int>(failed);
  if (failed_ranks > 0 && runtime.info().rank == 0) {
    std::fprintf(stderr, "[mpi tests] failures on %d of %d ranks\n", failed_ranks,
                 runtime.info().size);
  }
  return failed_ranks;
}

}  // namespace

runtime::Runtime& mpi_runtime() {
  if (g_runtime == nullptr) {
    LOCKSTEP_THROW("mpi_runtime: the MPI test main has not started the Runtime");
  }
  return *g_runtime;
}

comm::Communicator& mpi_world() { return mpi_runtime().world(); }

}  // namespace lockstep::testing

int main(int argc, char** argv) {
  lockstep::runtime::Runtime runtime(&argc, &argv);
  lockstep::testing::g_runtime = &runtime;
  ::testing::InitGoogleTest(&argc, argv);
  const int code = lockstep::runtime::run_guarded(runtime, [&] {
    return lockstep::testing::run_on_every_rank(runtime) == 0 ? lockstep::kExitOk
                                                              : lockstep::kExitFailure;
  });
  lockstep::testing::g_runtime = nullptr;
  return code;
}
