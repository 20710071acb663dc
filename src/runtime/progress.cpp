// Training progress on rank 0: the live bar or epoch lines on stdout, and the metrics log.
#include "lockstep/runtime/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "lockstep/base/error.h"

namespace lockstep::runtime {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string clock_text(double seconds) {
  const auto s = static_cast<long long>(std::max(0.0, seconds) + 0.5);
  char text[32];
  std::snprintf(text, sizeof(text), "%lld:%02lld", s / 60, s % 60);
  return text;
}

constexpr double kRedrawSeconds = 0.1;
constexpr int kBarWidth = 24;

}  // namespace

ProgressStyle parse_progress_style(const std::string& text) {
  if (text == "bar") return ProgressStyle::kBar;
  if (text == "lines") return ProgressStyle::kLines;
  LOCKSTEP_CHECK(text == "auto", "progress: expected bar, lines or auto, found '" << text << "'");
  const char* env = std::getenv("LOCKSTEP_PROGRESS");
  if (env != nullptr && (std::string(env) == "bar" || std::string(env) == "lines")) {
    return parse_progress_style(env);
  }
  if (std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr) return ProgressStyle::kLines;
  return isatty(STDOUT_FILENO) == 1 ? ProgressStyle::kBar : ProgressStyle::kLines;
}

double TrainingProgress::Tally::loss() const {
  return samples ? loss_sum / static_cast<double>(samples) : 0.0;
}

double TrainingProgress::Tally::accuracy() const {
  return samples ? correct / static_cast<double>(samples) : 0.0;
}

double TrainingProgress::Tally::rate(double now) const {
  return now > start ? static_cast<double>(samples) / (now - start) : 0.0;
}

TrainingProgress::TrainingProgress(ProgressOptions options)
    : options_(std::move(options)),
      start_(now_seconds()),
      current_epoch_(options_.first_epoch),
      last_step_(options_.first_step) {
  if (!options_.speaker || options_.metrics_path.empty()) return;
  metrics_.open(options_.metrics_path, options_.append ? std::ios::app : std::ios::trunc);
  LOCKSTEP_CHECK(metrics_.good(), "metrics log: cannot write '" << options_.metrics_path << "'");
}

double TrainingProgress::wall_seconds() const { return now_seconds() - start_; }

void TrainingProgress::exclude(const std::function<void()>& work) {
  const double begin = now_seconds();
  work();
  excluded_ += now_seconds() - begin;
}

void TrainingProgress::on_step(const StepProgress& s) {
  if (!options_.speaker) return;
  const double now = training_seconds();
  for (Tally* tally : {&interval_, &epoch_}) {
    tally->loss_sum += s.loss * static_cast<double>(s.samples);
    tally->correct += s.accuracy * static_cast<double>(s.samples);
    tally->samples += s.samples;
  }
  current_epoch_ = s.epoch;
  last_step_ = s.step;
  if (options_.log_every > 0 && s.step % options_.log_every == 0) {
    record("step", s.epoch + 1, interval_.loss(), interval_.accuracy(), interval_.rate(now));
    interval_ = Tally{0.0, 0.0, now, 0};
  }
  const bool last = s.batch + 1 == s.batches_per_epoch;
  if (options_.style == ProgressStyle::kBar && (last || now - last_draw_ >= kRedrawSeconds)) {
    draw(s, now);
  }
}

void TrainingProgress::on_epoch(int64_t epoch, double loss, double accuracy,
                                const std::optional<ValidationProgress>& validation) {
  if (!options_.speaker) return;
  const double now = training_seconds();
  const double rate = epoch_.rate(now);
  char validated[96] = "";
  if (validation) {
    std::snprintf(validated, sizeof(validated), "  val_loss %.4f  val_accuracy %.4f%s",
                  validation->loss, validation->accuracy, validation->best ? " (best)" : "");
  }
  if (options_.style == ProgressStyle::kBar) std::fputs("\r\033[K", stdout);
  std::printf("epoch %lld/%lld: loss %.4f  accuracy %.4f%s  %.0f samples/s  %.1f s\n",
              static_cast<long long>(epoch + 1), static_cast<long long>(options_.epochs), loss,
              accuracy, validated, rate, now - epoch_start_);
  std::fflush(stdout);
  record("epoch", epoch + 1, loss, accuracy, rate);
  if (validation) {
    const double seconds = validation->seconds;
    record("validation", epoch + 1, validation->loss, validation->accuracy,
           seconds > 0 ? static_cast<double>(validation->samples) / seconds : 0.0, &*validation);
  }
  epoch_start_ = now;
  epoch_ = Tally{0.0, 0.0, now, 0};
}

void TrainingProgress::on_test(double loss, double accuracy, int64_t samples, double seconds) {
  if (!options_.speaker) return;
  record("test", current_epoch_ + 1, loss, accuracy,
         seconds > 0 ? static_cast<double>(samples) / seconds : 0.0);
}

void TrainingProgress::draw(const StepProgress& s, double now) {
  const double done = static_cast<double>(s.batch + 1) / static_cast<double>(s.batches_per_epoch);
  std::string bar(static_cast<size_t>(done * kBarWidth), '=');
  bar.resize(kBarWidth, ' ');
  const double eta = done > 0 ? (now - epoch_start_) * (1.0 - done) / done : 0.0;
  std::printf("\r\033[Kepoch %lld/%lld %lld/%lld [%s] loss %.4f  %.0f samples/s  ETA %s",
              static_cast<long long>(s.epoch + 1), static_cast<long long>(options_.epochs),
              static_cast<long long>(s.batch + 1), static_cast<long long>(s.batches_per_epoch),
              bar.c_str(), epoch_.loss(), epoch_.rate(now), clock_text(eta).c_str());
  std::fflush(stdout);
  last_draw_ = now;
}

void TrainingProgress::record(const char* kind, int64_t epoch, double loss, double accuracy,
                              double rate, const ValidationProgress* validation) {
  if (!metrics_.is_open()) return;
  nlohmann::json line = {{"kind", kind},
                         {"step", last_step_},
                         {"epoch", epoch},
                         {"loss", loss},
                         {"accuracy", accuracy},
                         {"samples_per_s", rate},
                         {"elapsed_s", wall_seconds()}};
  if (validation != nullptr) {
    line["samples"] = validation->samples;
    line["best"] = validation->best;
  }
  metrics_ << line.dump() << '\n';
  metrics_.flush();
}

}  // namespace lockstep::runtime
