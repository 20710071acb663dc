// Device names: printing and parsing "cpu" / "cuda:N".
#include "lockstep/base/device.h"

#include "lockstep/base/error.h"

namespace lockstep {

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.rfind("cuda:", 0) == 0) {
    const std::string ordinal = text.substr(5);
    LOCKSTEP_CHECK(!ordinal.empty() && ordinal.size() < 6 &&
                       ordinal.find_first_not_of("0123456789") == std::string::npos,
                   "device: expected cpu, cuda or cuda:N, found '" << text << "'");
    return cuda(std::stoi(ordinal));
  }
  LOCKSTEP_THROW("device: expected cpu, cuda or cuda:N, found '" << text << "'");
}

}  // namespace lockstep
