// Profiler: phase accounting for training steps (each instant goes to the innermost open
// phase) and the in-memory Chrome trace, written event by event so that a large trace never
// exists twice in memory.
#include "lockstep/base/profiler.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <nlohmann/json.hpp>
#include <utility>

#include "lockstep/base/error.h"

namespace lockstep {

namespace {

using Clock = Profiler::Clock;

size_t index_of(Phase phase) { return static_cast<size_t>(phase); }

double seconds_between(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double>(end - start).count();
}

TraceArgs step_args(int64_t step) {
  TraceArgs args;
  args.step = step;
  return args;
}

double microseconds_between(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double, std::micro>(end - start).count();
}

}  // namespace

namespace detail {
constinit Profiler process_profiler;
}  // namespace detail

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::kData:
      return "data";
    case Phase::kForward:
      return "forward";
    case Phase::kBackward:
      return "backward";
    case Phase::kAllreduceWait:
      return "allreduce_wait";
    case Phase::kOptimizer:
      return "optimizer";
    case Phase::kOther:
      return "other";
  }
  return "unknown";
}

const char* lane_name(Lane lane) {
  switch (lane) {
    case Lane::kCompute:
      return "compute";
    case Lane::kComm:
      return "comm";
  }
  return "unknown";
}

void Profiler::enable(bool with_trace, size_t max_events) {
  clear_measurements();
  {
    const std::lock_guard<std::mutex> lock(events_mutex_);
    max_events_ = max_events;
  }
  origin_ = now_();
  enabled_ = true;
  tracing_ = with_trace;
  trace_on_.store(with_trace, std::memory_order_relaxed);
}

void Profiler::disable() {
  drop_open_scopes();  // an open step is not a measured one
  step_seconds_ = {};
  enabled_ = false;
  trace_on_.store(false, std::memory_order_relaxed);
}

void Profiler::reset() {
  clear_measurements();
  origin_ = now_();
}

void Profiler::clear_measurements() {
  drop_open_scopes();
  step_seconds_ = {};
  totals_ = {};
  steps_ = 0;
  const std::lock_guard<std::mutex> lock(events_mutex_);
  std::vector<TraceEvent>().swap(events_);  // give the memory back, not just the events
  dropped_ = 0;
}

void Profiler::drop_open_scopes() {
  ++generation_;
  stack_size_ = 0;
  depth_ = {};
  measuring_ = false;
}

void Profiler::credit_innermost(Clock::time_point now) {
  step_seconds_[index_of(stack_[static_cast<size_t>(stack_size_ - 1)])] +=
      seconds_between(segment_start_, now);
  segment_start_ = now;
}

void Profiler::begin_step(int64_t step) {
  if (!enabled_) return;
  if (measuring_) end_step();
  const Clock::time_point now = now_();
  drop_open_scopes();
  // The step itself is the outermost "other" frame: time no scope claims lands there. It is
  // not a scope, so an explicit kOther scope nested in another phase still takes its time.
  stack_[0] = Phase::kOther;
  stack_size_ = 1;
  segment_start_ = now;
  step_start_ = now;
  step_label_ = step;
  measuring_ = true;
}

void Profiler::end_step() {
  if (!enabled_) return;
  if (measuring_) {
    const Clock::time_point now = now_();
    credit_innermost(now);
    if (tracing_) record_event("step", Lane::kCompute, step_start_, now, step_args(step_label_));
    drop_open_scopes();
  }
  for (size_t i = 0; i < totals_.size(); ++i) totals_[i] += step_seconds_[i];
  step_seconds_ = {};
  ++steps_;
}

void Profiler::add(Phase phase, double seconds) {
  LOCKSTEP_CHECK(std::isfinite(seconds) && seconds >= 0.0,
                 "Profiler::add: expected a finite duration of at least 0 seconds for phase '"
                     << phase_name(phase) << "', found " << seconds);
  if (!enabled_) return;
  step_seconds_[index_of(phase)] += seconds;
}

Profiler::Opening Profiler::open(Phase phase) {
  if (depth_[index_of(phase)]++ > 0) return Opening::kNested;  // the outer one counts
  const Clock::time_point now = now_();
  credit_innermost(now);
  stack_[static_cast<size_t>(stack_size_++)] = phase;
  opened_at_[index_of(phase)] = now;
  return Opening::kOuter;
}

void Profiler::close(Phase phase, Opening opening, uint64_t generation) {
  if (generation != generation_) return;  // the step ended or the profiler was reset since
  --depth_[index_of(phase)];
  if (opening == Opening::kNested) return;
  if (stack_[static_cast<size_t>(stack_size_ - 1)] != phase) {
    // Scopes closed out of order (only possible outside RAII use): the attribution of this
    // step can no longer be trusted, so the open scopes stop counting.
    drop_open_scopes();
    return;
  }
  const Clock::time_point now = now_();
  credit_innermost(now);
  --stack_size_;
  if (tracing_) {
    record_event(phase_name(phase), Lane::kCompute, opened_at_[index_of(phase)], now,
                 step_args(step_label_));
  }
}

void Profiler::record_event(std::string_view name, Lane lane, Clock::time_point start,
                            Clock::time_point end, TraceArgs args) noexcept {
  if (!tracing()) return;
  const std::lock_guard<std::mutex> lock(events_mutex_);
  if (events_.size() >= max_events_) {
    ++dropped_;
    return;
  }
  try {
    events_.push_back({std::string(name), lane, start, end, std::move(args)});
  } catch (const std::bad_alloc&) {
    ++dropped_;  // a trace is never worth ending the run for
  }
}

TraceSpan::TraceSpan(std::string_view name, Lane lane, Profiler& owner)
    : profiler_(owner), active_(owner.tracing()), name_(name), lane_(lane) {
  if (active_) start_ = profiler_.now();
}

TraceSpan::~TraceSpan() {
  if (active_) profiler_.record_event(name_, lane_, start_, profiler_.now(), std::move(args_));
}

PhaseSeconds Profiler::mean_ms_per_step() const {
  PhaseSeconds means{};
  if (steps_ == 0) return means;
  for (size_t i = 0; i < means.size(); ++i) {
    means[i] = totals_[i] * 1000.0 / static_cast<double>(steps_);
  }
  return means;
}

size_t Profiler::trace_event_count() const {
  const std::lock_guard<std::mutex> lock(events_mutex_);
  return events_.size();
}

int64_t Profiler::dropped_trace_events() const {
  const std::lock_guard<std::mutex> lock(events_mutex_);
  return dropped_;
}

namespace {

nlohmann::json thread_name_event(int rank, Lane lane) {
  return {{"name", "thread_name"},
          {"ph", "M"},
          {"pid", rank},
          {"tid", static_cast<int>(lane)},
          {"args", {{"name", lane_name(lane)}}}};
}

nlohmann::json trace_args_json(const TraceArgs& args) {
  nlohmann::json json = nlohmann::json::object();
  if (!args.label.empty()) json["label"] = args.label;
  if (args.bytes >= 0) json["bytes"] = args.bytes;
  if (args.sequence >= 0) json["sequence"] = args.sequence;
  if (args.step >= 0) json["step"] = args.step;
  return json;
}

}  // namespace

void Profiler::write_chrome_trace(const std::string& path, int rank) const {
  const std::string temporary = path + ".tmp";
  const std::lock_guard<std::mutex> lock(events_mutex_);
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    LOCKSTEP_CHECK(out.is_open(), "Profiler: cannot write the trace to '"
                                      << path << "': opening '" << temporary
                                      << "' failed: " << std::strerror(errno));
    const nlohmann::json other = {{"rank", rank}, {"steps", steps_}, {"dropped_events", dropped_}};
    out << "{\"displayTimeUnit\":\"ms\",\"otherData\":" << other.dump() << ",\"traceEvents\":[\n";
    const nlohmann::json process_name = {{"name", "process_name"},
                                         {"ph", "M"},
                                         {"pid", rank},
                                         {"args", {{"name", "rank " + std::to_string(rank)}}}};
    out << process_name.dump() << ",\n"
        << thread_name_event(rank, Lane::kCompute).dump() << ",\n"
        << thread_name_event(rank, Lane::kComm).dump();
    for (const TraceEvent& event : events_) {
      const nlohmann::json json = {
          {"name", event.name},
          {"cat", lane_name(event.lane)},
          {"ph", "X"},
          {"ts", microseconds_between(origin_, event.start)},
          {"dur", std::max(0.0, microseconds_between(event.start, event.end))},
          {"pid", rank},
          {"tid", static_cast<int>(event.lane)},
          {"args", trace_args_json(event.args)}};
      // Names come from callers: replace invalid UTF-8 rather than fail at the end of a run.
      out << ",\n" << json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    out << "\n]}\n";
    out.flush();
    LOCKSTEP_CHECK(out.good(), "Profiler: cannot write the trace to '"
                                   << path << "': writing '" << temporary
                                   << "' failed: " << std::strerror(errno));
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    std::error_code ignored;  // the rename's error is the one worth reporting
    std::filesystem::remove(temporary, ignored);
    LOCKSTEP_THROW("Profiler: cannot write the trace to '"
                   << path << "': renaming '" << temporary
                   << "' over it failed: " << error.message());
  }
}

}  // namespace lockstep
