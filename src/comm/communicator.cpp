// The state every Communicator shares: deadline, step, label and sequence number of its
// collectives, which timeout reports name.
#include "lockstep/comm/communicator.h"

#include <cmath>
#include <utility>

#include "lockstep/base/error.h"

namespace lockstep::comm {

void Communicator::set_deadline(double seconds) {
  LOCKSTEP_CHECK(seconds >= 0.0,
                 "Communicator::set_deadline: the collective timeout must be "
                 "at least 0 seconds (0: none), found "
                     << seconds);
  deadline_s_ = std::isinf(seconds) ? 0.0 : seconds;
}

int64_t Communicator::start_allreduce_sum(float* data, int64_t count) {
  allreduce_sum(data, count);
  return sequence() - 1;
}

int64_t Communicator::start_allreduce_sum(double* data, int64_t count) {
  allreduce_sum(data, count);
  return sequence() - 1;
}

int64_t Communicator::start_scatterv(const float* send, const std::vector<int64_t>& counts,
                                     const std::vector<int64_t>& displacements, float* receive,
                                     int root) {
  scatterv(send, counts, displacements, receive, root);
  return sequence() - 1;
}

void Communicator::finish(int64_t /*handle*/) {}

std::string Communicator::exchange_label(std::string label) {
  std::swap(label_, label);
  return label;
}

}  // namespace lockstep::comm
