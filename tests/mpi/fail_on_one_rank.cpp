// A job in which rank 1 fails while every other rank waits in a collective it will never
// join: run_guarded must print "[rank 1] error: ..." and end the whole job at once.
#include "lockstep/base/error.h"
#include "lockstep/runtime/runtime.h"

int main(int argc, char** argv) {
  lockstep::runtime::Runtime runtime(&argc, &argv);
  return lockstep::runtime::run_guarded(runtime, [&] {
    lockstep::comm::Communicator& world = runtime.world();
    LOCKSTEP_CHECK(world.size() >= 2,
                   "fail_on_one_rank: expected at least 2 ranks, found " << world.size());
    if (world.rank() == 1) LOCKSTEP_THROW("fail_on_one_rank: rank 1 fails on purpose");
    double sum = 1.0;
    world.allreduce_sum(&sum, 1);  // without the abort, the peers would wait here forever
    world.barrier();
    return lockstep::kExitOk;
  });
}
