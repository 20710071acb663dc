// Fault injection (LOCKSTEP_FAULT): parsing the spec once per process, and raising the fault
// on the rank and step it names.
#include "lockstep/runtime/fault_injection.h"

#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/runtime/runtime.h"

namespace lockstep::runtime {

namespace {

constexpr const char* kVariable = "LOCKSTEP_FAULT";
constexpr const char* kForm =
    "expected kind:rank:step with kind sigkill, sigsegv, throw, hang or kill_in_checkpoint, "
    "or exit:CODE:rank:step";

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  size_t begin = 0;
  for (size_t at = text.find(separator); at != std::string::npos;
       at = text.find(separator, begin)) {
    parts.push_back(text.substr(begin, at - begin));
    begin = at + 1;
  }
  parts.push_back(text.substr(begin));
  return parts;
}

// The whole of `part` as a decimal integer in [low, high], or an Error naming `what`.
int64_t parse_integer(const std::string& text, const std::string& part, const char* what,
                      int64_t low, int64_t high) {
  int64_t value = 0;
  const char* end = part.data() + part.size();
  const auto [stop, status] = std::from_chars(part.data(), end, value);
  LOCKSTEP_CHECK(!part.empty() && status == std::errc() && stop == end,
                 kVariable << "='" << text << "': " << what << " must be a whole number, found '"
                           << part << "'");
  LOCKSTEP_CHECK(value >= low && value <= high, kVariable << "='" << text << "': " << what
                                                          << " must be from " << low << " to "
                                                          << high << ", found " << value);
  return value;
}

std::optional<FaultKind> kind_named(const std::string& name) {
  for (FaultKind kind : {FaultKind::kSigkill, FaultKind::kSigsegv, FaultKind::kExit,
                         FaultKind::kThrow, FaultKind::kHang, FaultKind::kKillInCheckpoint}) {
    if (fault_kind_name(kind) == name) return kind;
  }
  return std::nullopt;
}

// The step inject_fault_at_step saw last: the step a checkpoint written now belongs to.
std::atomic<int64_t> g_current_step{0};

void announce(const FaultSpec& spec, int64_t step) {
  logging::warn("%s: injecting %s on rank %d at step %lld", kVariable,
                fault_kind_name(spec.kind).c_str(), spec.rank, static_cast<long long>(step));
}

[[noreturn]] void kill_self(int signal_number) {
  std::fflush(nullptr);
  std::raise(signal_number);
  // A handler (Open MPI installs one for SIGSEGV) may return: die by the default action.
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
  std::_Exit(128 + signal_number);
}

}  // namespace

std::string fault_kind_name(FaultKind kind) {
  switch (kind) {
    case FaultKind::kSigkill:
      return "sigkill";
    case FaultKind::kSigsegv:
      return "sigsegv";
    case FaultKind::kExit:
      return "exit";
    case FaultKind::kThrow:
      return "throw";
    case FaultKind::kHang:
      return "hang";
    case FaultKind::kKillInCheckpoint:
      return "kill_in_checkpoint";
    case FaultKind::kNone:
      break;
  }
  return "none";
}

FaultSpec parse_fault_spec(const std::string& text) {
  if (text.empty()) return {};
  const std::vector<std::string> parts = split(text, ':');
  const std::optional<FaultKind> kind = kind_named(parts[0]);
  LOCKSTEP_CHECK(kind.has_value(), kVariable << "='" << text << "': unknown fault kind '"
                                             << parts[0] << "'; " << kForm);
  const size_t expected = *kind == FaultKind::kExit ? 4 : 3;
  LOCKSTEP_CHECK(parts.size() == expected, kVariable << "='" << text << "': " << kForm << "; found "
                                                     << parts.size() << " fields separated by ':'");
  FaultSpec spec;
  spec.kind = *kind;
  size_t next = 1;
  if (spec.kind == FaultKind::kExit) {
    spec.exit_code = static_cast<int>(parse_integer(text, parts[next++], "the exit code", 0, 255));
  }
  spec.rank = static_cast<int>(parse_integer(text, parts[next++], "the rank", 0, 1 << 30));
  spec.step = parse_integer(text, parts[next], "the step (counted from 1)", 1, int64_t{1} << 62);
  return spec;
}

const FaultSpec& fault_spec() {
  // Parsed once; a bad value is remembered and thrown again on every call.
  static std::once_flag once;
  static FaultSpec spec;
  static std::optional<Error> problem;
  std::call_once(once, [] {
    const char* value = std::getenv(kVariable);
    try {
      spec = parse_fault_spec(value == nullptr ? "" : value);
    } catch (const Error& e) {
      problem = e;
    }
  });
  if (problem) throw *problem;
  return spec;
}

bool fault_requested(FaultKind kind, int rank, int64_t step) {
  const FaultSpec& spec = fault_spec();
  if (spec.kind != kind || spec.rank != rank) return false;
  return kind == FaultKind::kKillInCheckpoint ? step >= spec.step : step == spec.step;
}

void raise_fault(const FaultSpec& spec) {
  switch (spec.kind) {
    case FaultKind::kNone:
      return;
    case FaultKind::kSigkill:
    case FaultKind::kKillInCheckpoint:
      kill_self(SIGKILL);
    case FaultKind::kSigsegv:
      kill_self(SIGSEGV);
    case FaultKind::kExit:
      std::fflush(nullptr);
      std::_Exit(spec.exit_code);
    case FaultKind::kThrow:
      LOCKSTEP_THROW(kVariable << ": injected failure on rank " << spec.rank << " at step "
                               << spec.step);
    case FaultKind::kHang:
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  LOCKSTEP_THROW(kVariable << ": unknown fault kind " << static_cast<int>(spec.kind));
}

void inject_fault_at_step(int rank, int64_t step) {
  g_current_step.store(step);
  const FaultSpec& spec = fault_spec();
  if (spec.kind == FaultKind::kNone || spec.kind == FaultKind::kKillInCheckpoint) return;
  if (!fault_requested(spec.kind, rank, step)) return;
  announce(spec, step);
  raise_fault(spec);
}

void inject_fault_in_checkpoint(int rank, int64_t step) {
  if (!fault_requested(FaultKind::kKillInCheckpoint, rank, step)) return;
  announce(fault_spec(), step);
  raise_fault(fault_spec());
}

void inject_fault_in_checkpoint(int rank) {
  inject_fault_in_checkpoint(rank, g_current_step.load());
}

}  // namespace lockstep::runtime
