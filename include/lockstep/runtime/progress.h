// TrainingProgress: what rank 0 shows and records while a model trains — a live bar redrawn
// in place (at most 10 times a second) or one line per epoch, and a JSON-lines metrics log
// whose rates leave out the time spent writing checkpoints and evaluating.
#pragma once

#include <cstdint>
#include <fstream>
#include <functional>
#include <optional>
#include <string>

namespace lockstep::runtime {

enum class ProgressStyle {
  kBar,    // one line redrawn with \r, then a line per epoch
  kLines,  // a line per epoch only
};

// "bar", "lines" or "auto". Auto takes LOCKSTEP_PROGRESS (bar or lines) when set; else lines
// under Open MPI, whose ranks get a pseudo-terminal as stdout whatever mpirun writes to; else
// bar exactly when stdout is a terminal. Throws lockstep::Error for any other text.
ProgressStyle parse_progress_style(const std::string& text);

struct ProgressOptions {
  bool speaker = true;  // false on ranks other than 0: nothing is shown or written
  ProgressStyle style = ProgressStyle::kLines;
  int64_t epochs = 1;        // epochs of the whole run, for "epoch 2/5"
  int64_t log_every = 50;    // steps per "step" record of the metrics log
  std::string metrics_path;  // the JSON-lines log; empty for none
  bool append = false;       // append to the log (a resumed run) rather than replace it
  int64_t first_step = 0;    // where training begins (a resumed run begins later)
  int64_t first_epoch = 0;   // 0-based
};

// One optimizer step and the metrics of its global batch.
struct StepProgress {
  int64_t step = 0;   // steps taken, this one included
  int64_t epoch = 0;  // 0-based
  int64_t batch = 0;  // 0-based index in the epoch
  int64_t batches_per_epoch = 0;
  int64_t samples = 0;
  double loss = 0.0;      // mean over the batch
  double accuracy = 0.0;  // fraction of the batch
};

// An evaluation at the end of an epoch (validation), shown in the epoch's line.
struct ValidationProgress {
  double loss = 0.0;      // mean over the samples
  double accuracy = 0.0;  // fraction of the samples
  int64_t samples = 0;
  double seconds = 0.0;  // the evaluation's wall time
  bool best = false;     // the best accuracy of the run so far
};

class TrainingProgress {
 public:
  // Opens the metrics log; throws lockstep::Error when it cannot be written.
  explicit TrainingProgress(ProgressOptions options);

  // Records {"kind": "step", ...} every log_every steps (loss, accuracy and samples/s over
  // those steps) and redraws the bar.
  void on_step(const StepProgress& step);
  // Prints the epoch's line and records {"kind": "epoch", ...}; with a validation, the line
  // shows it too and {"kind": "validation", ..., "samples", "best"} follows.
  void on_epoch(int64_t epoch, double loss, double accuracy,
                const std::optional<ValidationProgress>& validation = std::nullopt);
  // Records {"kind": "test", ...} for the final evaluation, which took `seconds`.
  void on_test(double loss, double accuracy, int64_t samples, double seconds);
  // Runs `work` (a checkpoint, an evaluation) with the training clock stopped.
  void exclude(const std::function<void()>& work);
  // Seconds since construction, all included.
  double wall_seconds() const;

 private:
  // Loss, correct rows and samples summed over some steps, from training time `start`.
  struct Tally {
    double loss_sum = 0.0, correct = 0.0, start = 0.0;
    int64_t samples = 0;
    double loss() const;
    double accuracy() const;
    double rate(double now) const;
  };

  double training_seconds() const { return wall_seconds() - excluded_; }
  void draw(const StepProgress& step, double now);
  // One line of the metrics log; a validation adds its sample count and whether it was best.
  void record(const char* kind, int64_t epoch, double loss, double accuracy, double rate,
              const ValidationProgress* validation = nullptr);

  ProgressOptions options_;
  std::ofstream metrics_;
  double start_ = 0.0;     // steady clock at construction, in seconds
  double excluded_ = 0.0;  // seconds spent in exclude()
  Tally interval_, epoch_;
  double epoch_start_ = 0.0, last_draw_ = -1.0;
  int64_t current_epoch_, last_step_;
};

}  // namespace lockstep::runtime
