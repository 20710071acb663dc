// Profiler: where a training step's time goes (data movement, forward, backward, waiting for
// allreduce, optimizer, other), summed over steps, and optionally a Chrome trace of the
// phases and collectives of this process. One process-wide instance, profiler(), disabled by
// default: a disabled ProfileScope costs one predictable branch and reads no clock.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace lockstep {

// The phases of a training step. Each instant of an open step belongs to exactly one phase:
// the innermost open scope's, or kOther when no scope is open.
enum class Phase : int {
  kData,           // loading and scattering the batch, host <-> device copies
  kForward,        // model forward and loss
  kBackward,       // model backward (and adding micro-batch gradients into the buckets)
  kAllreduceWait,  // blocked until a gradient allreduce completes
  kOptimizer,      // the parameter update
  kOther,          // anything else inside the step (checks, metrics, time in no scope)
};
inline constexpr int kPhaseCount = 6;
// "data", "forward", "backward", "allreduce_wait", "optimizer", "other".
const char* phase_name(Phase phase);

// The trace lanes (Chrome trace tid) of one process.
enum class Lane : int { kCompute = 0, kComm = 1 };
// "compute", "comm".
const char* lane_name(Lane lane);

// What a trace event says besides its name and times; unset fields are left out of the trace.
struct TraceArgs {
  std::string label;      // what the caller was doing ("gradient bucket 2 of 3")
  int64_t bytes = -1;     // bytes moved by a collective
  int64_t sequence = -1;  // the collective's sequence number on its communicator
  int64_t step = -1;      // the training step
};

// Seconds per phase, indexed by static_cast<int>(Phase).
using PhaseSeconds = std::array<double, kPhaseCount>;

class Profiler {
 public:
  using Clock = std::chrono::steady_clock;
  // Where scopes read the time; tests pass a fake clock to get exact durations.
  using NowFunction = Clock::time_point (*)();
  // Trace events kept in memory before further ones are dropped (and counted): with ~150
  // bytes per event, about 30 MB at most.
  static constexpr size_t kDefaultMaxTraceEvents = 200000;

  constexpr Profiler() = default;
  explicit Profiler(NowFunction clock) : now_(clock) {}
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  // Starts measuring (clearing what was measured before, as reset() does). With `with_trace`,
  // phase scopes and record_event calls are also kept as trace events, up to `max_events`.
  void enable(bool with_trace, size_t max_events = kDefaultMaxTraceEvents);
  // Stops measuring; what was measured stays readable.
  void disable();
  bool enabled() const { return enabled_; }
  bool tracing() const { return trace_on_.load(std::memory_order_relaxed); }
  // True while enabled with a step open: only then do scopes read the clock.
  bool measuring() const { return measuring_; }

  // Steps. Time between begin_step() and end_step() that no scope claims counts as kOther,
  // so the phases of a step add up to its wall time. Scopes outside a step count nothing
  // (evaluation or checkpoints between steps stay out of the step means). begin_step while
  // a step is open closes that one first. `step` only labels the step in the trace.
  void begin_step(int64_t step = -1);
  // Closes the step: its phase seconds (scoped and add()ed) join the totals and the step
  // count grows by one. Without begin_step, a step is whatever add() put in since the last
  // end_step. Scopes still open (misuse) stop counting here.
  void end_step();
  // Adds a duration measured elsewhere (GPU events, tests) to the current step's `phase`.
  // Throws lockstep::Error unless seconds is finite and >= 0. Nothing when disabled.
  void add(Phase phase, double seconds);

  // A trace event on `lane` from `start` to `end` (Profiler::Clock times, as now() gives).
  // Kept only when tracing, while fewer than the cap are held; later ones (and any that
  // cannot be stored) are counted as dropped. Safe to call from any thread; never throws.
  void record_event(std::string_view name, Lane lane, Clock::time_point start,
                    Clock::time_point end, TraceArgs args = {}) noexcept;

  // Writes the trace as Chrome trace JSON ({"traceEvents": [...]}, complete events "ph":"X"
  // with ts and dur in microseconds since enable(), pid = `rank`, tid = lane, lanes named by
  // thread_name metadata) to `path`, through path + ".tmp" renamed over it, so a reader never
  // sees half a file. Throws lockstep::Error naming the path when it cannot be written.
  void write_chrome_trace(const std::string& path, int rank) const;

  // Forgets every step, total and trace event and restarts the trace clock; keeps the
  // enabled and tracing settings. Scopes open across a reset count nothing.
  void reset();

  // Closed steps since enable()/reset().
  int64_t steps() const { return steps_; }
  // Seconds per phase over the closed steps.
  const PhaseSeconds& totals() const { return totals_; }
  double total_seconds(Phase phase) const { return totals_[static_cast<size_t>(phase)]; }
  // Mean milliseconds per closed step in each phase (zeros before the first step).
  PhaseSeconds mean_ms_per_step() const;
  size_t trace_event_count() const;
  int64_t dropped_trace_events() const;

  Clock::time_point now() const { return now_(); }

 private:
  friend class ProfileScope;
  // What a scope's constructor learned: whether its close must do anything.
  enum class Opening : uint8_t { kInert, kNested, kOuter };
  struct TraceEvent {
    std::string name;
    Lane lane;
    Clock::time_point start;
    Clock::time_point end;
    TraceArgs args;
  };

  Opening open(Phase phase);
  void close(Phase phase, Opening opening, uint64_t generation);
  // Credits the innermost open phase with the time since it last became innermost.
  void credit_innermost(Clock::time_point now);
  // Forgets open scopes and the open step: scopes opened before this no longer count.
  void drop_open_scopes();
  void clear_measurements();

  static Clock::time_point steady_now() { return Clock::now(); }

  NowFunction now_ = &steady_now;
  bool enabled_ = false;
  bool tracing_ = false;
  bool measuring_ = false;             // enabled_ && a step is open
  std::atomic<bool> trace_on_{false};  // enabled_ && tracing_, read by any thread
  // The step's "other" frame, then the open scopes of different phases, outermost first (a
  // phase appears at most once: scopes nested in one of the same phase are inert), and how
  // many scopes of each phase are open.
  std::array<Phase, kPhaseCount + 1> stack_{};
  int stack_size_ = 0;
  std::array<int, kPhaseCount> depth_{};
  // When the outermost open scope of each phase opened (for its trace event). Kept here, not
  // in the scope, so that a scope is a few values in registers when the profiler is off.
  std::array<Clock::time_point, kPhaseCount> opened_at_{};
  uint64_t generation_ = 0;  // bumped whenever open scopes stop counting
  Clock::time_point segment_start_{};
  Clock::time_point step_start_{};
  int64_t step_label_ = -1;
  PhaseSeconds step_seconds_{};
  PhaseSeconds totals_{};
  int64_t steps_ = 0;

  Clock::time_point origin_{};  // trace time zero
  size_t max_events_ = kDefaultMaxTraceEvents;
  mutable std::mutex events_mutex_;
  std::vector<TraceEvent> events_;
  int64_t dropped_ = 0;
};

namespace detail {
extern constinit Profiler process_profiler;
}  // namespace detail

// The process-wide profiler the engine's scopes report to.
inline Profiler& profiler() { return detail::process_profiler; }

// Counts the time of its lifetime as `phase` in the current step (see Phase for the rule).
// Nested in a scope of the same phase it does nothing, so recursion never counts twice;
// nested in another phase it takes its time from that one. With tracing on, an outermost
// scope also becomes a trace event on the compute lane. Use from the training thread only.
class ProfileScope {
 public:
  explicit ProfileScope(Phase phase, Profiler& owner = profiler())
      : profiler_(owner), phase_(phase) {
    if (profiler_.measuring()) [[unlikely]] {
      opening_ = profiler_.open(phase_);
      generation_ = profiler_.generation_;
    }
  }
  ~ProfileScope() {
    if (opening_ != Profiler::Opening::kInert) [[unlikely]] {
      profiler_.close(phase_, opening_, generation_);
    }
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  Profiler& profiler_;
  Phase phase_;
  Profiler::Opening opening_ = Profiler::Opening::kInert;
  uint64_t generation_ = 0;
};

// A trace event for its lifetime (a collective, say) when the profiler is tracing; otherwise
// it reads no clock. Fill args() only when active(), so nothing is built for nothing.
class TraceSpan {
 public:
  // `name` must outlive the span (a string literal, typically).
  TraceSpan(std::string_view name, Lane lane, Profiler& owner = profiler());
  ~TraceSpan();
  TraceSpan(const TraceSpan&) = delete;
  TraceSpan& operator=(const TraceSpan&) = delete;

  bool active() const { return active_; }
  TraceArgs& args() { return args_; }

 private:
  Profiler& profiler_;
  bool active_;
  std::string_view name_;
  Lane lane_;
  Profiler::Clock::time_point start_{};
  TraceArgs args_;
};

}  // namespace lockstep
