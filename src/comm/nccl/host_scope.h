// HostScope: lends a communicator's deadline, step and label to the host communicator it
// delegates host collectives to (NcclCommunicator, the host-staged communicator).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "lockstep/comm/communicator.h"

namespace lockstep::comm::detail {

// While a collective runs on the host communicator, it carries this communicator's deadline,
// step and label (so a timeout there reports what the caller is doing); the host's own
// settings come back afterwards, for whoever else uses it.
class HostScope {
 public:
  HostScope(Communicator& host, const Communicator& self)
      : host_(host), deadline_s_(host.deadline()), step_(host.step()) {
    host.set_deadline(self.deadline());
    host.set_step(self.step());
    label_ = host.exchange_label(self.label());
  }
  ~HostScope() {
    host_.exchange_label(std::move(label_));
    host_.set_step(step_);
    host_.set_deadline(deadline_s_);  // was accepted before, so it cannot throw now
  }
  HostScope(const HostScope&) = delete;
  HostScope& operator=(const HostScope&) = delete;

 private:
  Communicator& host_;
  double deadline_s_;
  int64_t step_;
  std::string label_;
};

}  // namespace lockstep::comm::detail
