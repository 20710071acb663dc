// Backoff: how a communicator polls a collective it waits for. A collective shorter than kSpin
// costs no more than a blocking call; up to kYield, other ranks on the same cores may run
// between polls; beyond that the rank naps, from kFirstNap doubling up to kLongestNap, so that
// a long wait (a peer writing a checkpoint) costs at most a millisecond of latency and almost
// no CPU. Measured on 2 cores with 2 and 4 MPI ranks; the NCCL communicator polls alike.
#pragma once

#include <algorithm>
#include <chrono>
#include <thread>

namespace lockstep::comm::detail {

class Backoff {
 public:
  using Seconds = std::chrono::duration<double>;
  static constexpr Seconds kSpin{200e-6};
  static constexpr Seconds kYield{5e-3};
  static constexpr std::chrono::microseconds kFirstNap{50};
  static constexpr std::chrono::microseconds kLongestNap{1000};

  // Called between polls with the time waited so far.
  void pause(Seconds waited) {
    if (waited < kSpin) return;
    if (waited < kYield) {
      std::this_thread::yield();
      return;
    }
    std::this_thread::sleep_for(nap_);
    nap_ = std::min(nap_ * 2, kLongestNap);
  }

 private:
  std::chrono::microseconds nap_ = kFirstNap;
};

}  // namespace lockstep::comm::detail
