// Checkpoints of a running job: rank 0 writes and broadcasts the outcome as text, so every
// rank reaches the same decision; a resume's checkpoint is chosen on rank 0 and read everywhere.
#include "lockstep/io/checkpoint_writer.h"

#include <nlohmann/json.hpp>
#include <system_error>

#include "lockstep/base/error.h"

namespace lockstep::io {

namespace {

// Root's `text` on every rank (two broadcasts: the length, then the bytes).
std::string broadcast_text(comm::Communicator& communicator, std::string text, const char* label) {
  const comm::ScopedLabel scope(communicator, label);
  int64_t bytes = communicator.rank() == 0 ? static_cast<int64_t>(text.size()) : 0;
  communicator.broadcast(&bytes, sizeof bytes, 0);
  text.resize(static_cast<size_t>(bytes));
  if (bytes > 0) communicator.broadcast(text.data(), bytes, 0);
  return text;
}

// Rank 0's error (empty: none) on every rank, thrown everywhere alike.
void throw_together(comm::Communicator& communicator, const std::string& error, const char* label) {
  const std::string shared = broadcast_text(communicator, error, label);
  LOCKSTEP_CHECK(shared.empty(), shared);
}

// Rank 0 makes the folder (or checks the file's folder); returns why it cannot, else "".
std::string prepare_target(const CheckpointTarget& target) {
  try {
    if (!target.folder.empty()) {
      std::error_code error;
      std::filesystem::create_directories(target.folder, error);
      if (!std::filesystem::is_directory(target.folder)) {
        return "checkpoint folder '" + target.folder.string() + "' cannot be created" +
               (error ? ": " + error.message() : std::string(": a file of that name exists"));
      }
    }
    if (!target.file.empty()) {
      const std::filesystem::path folder = std::filesystem::absolute(target.file).parent_path();
      if (!std::filesystem::is_directory(folder)) {
        return "checkpoint '" + target.file.string() + "': folder '" + folder.string() +
               "' does not exist";
      }
    }
  } catch (const std::exception& e) {
    return std::string("checkpoint target: ") + e.what();
  }
  return {};
}

}  // namespace

CheckpointWriter::CheckpointWriter(comm::Communicator& communicator, CheckpointTarget target,
                                   std::filesystem::path resumed_from, BeforeRename before_rename)
    : communicator_(communicator),
      target_(std::move(target)),
      before_rename_(std::move(before_rename)),
      last_written_(std::move(resumed_from)) {
  LOCKSTEP_CHECK(target_.file.empty() || target_.folder.empty(),
                 "CheckpointWriter: give a checkpoint file or a folder, not both (file '"
                     << target_.file.string() << "', folder '" << target_.folder.string() << "')");
  LOCKSTEP_CHECK(target_.keep >= 1,
                 "CheckpointWriter: keep must be at least 1 checkpoint, found " << target_.keep);
  if (!enabled()) return;
  const std::string error = communicator_.rank() == 0 ? prepare_target(target_) : "";
  throw_together(communicator_, error, "checkpoint folder check");
}

std::filesystem::path CheckpointWriter::path_for(int64_t step) const {
  return target_.folder.empty() ? target_.file : checkpoint_path(target_.folder, step);
}

SaveOutcome CheckpointWriter::write_on_root(nn::Model& model, const optim::Optimizer& optimizer,
                                            const TrainerState& state) {
  SaveOutcome outcome;
  outcome.path = path_for(state.step);
  const auto hook = [&] {
    if (before_rename_) before_rename_(state.step);
  };
  try {
    save_checkpoint(outcome.path, model, optimizer, state, hook);
  } catch (const std::exception& e) {
    const auto* error = dynamic_cast<const Error*>(&e);
    outcome.error = error ? error->message() : e.what();
    return outcome;
  }
  outcome.written = true;
  if (target_.folder.empty()) return outcome;
  const PruneResult pruned = prune_checkpoints(target_.folder, state.step, target_.keep);
  for (const SkippedCheckpoint& failed : pruned.failed) {
    outcome.warnings.push_back("could not remove old checkpoint '" + failed.path.string() +
                               "': " + failed.reason);
  }
  return outcome;
}

SaveOutcome CheckpointWriter::save(nn::Model& model, const optim::Optimizer& optimizer,
                                   const TrainerState& state) {
  if (!enabled() || state.step == last_step_) return {};
  SaveOutcome outcome;
  if (communicator_.rank() == 0) outcome = write_on_root(model, optimizer, state);
  outcome.path = path_for(state.step);
  // Rank 0's error, or nothing: it may have failed where the others could not know.
  const std::string error = broadcast_text(
      communicator_, outcome.written ? std::string() : "E" + outcome.error, "checkpoint outcome");
  outcome.written = error.empty();
  if (outcome.written) {
    last_written_ = outcome.path;
    last_step_ = state.step;
    outcome.error.clear();
    return outcome;
  }
  outcome.error =
      "checkpoint of step " + std::to_string(state.step) +
      " could not be written: " + error.substr(1) + "; " +
      (last_written_.empty() ? std::string("the run has no earlier checkpoint")
                             : "the newest intact checkpoint is '" + last_written_.string() + "'");
  return outcome;
}

std::string CheckpointWriter::status_at(int64_t step) const {
  if (!enabled()) return "no checkpoint written (none configured)";
  const std::string last = last_written_.string();
  if (last_step_ == step) return "checkpoint '" + last + "' written";
  if (last.empty()) return "its checkpoint could not be written, nor any before";
  return "its checkpoint could not be written; the newest intact one is '" + last + "'";
}

namespace {

// What rank 0 finds for "auto": the newest valid checkpoint of the folder, or the file.
NewestCheckpoint look_for_newest(const CheckpointTarget& target) {
  if (!target.folder.empty()) return read_newest_checkpoint(target.folder);
  NewestCheckpoint newest;
  if (!std::filesystem::exists(target.file)) return newest;
  try {
    newest.checkpoint = read_checkpoint(target.file);
  } catch (const Error& e) {
    newest.skipped.push_back({target.file, e.message()});
  } catch (const std::exception& e) {
    newest.skipped.push_back({target.file, e.what()});
  }
  return newest;
}

// Rank 0's findings as JSON text for the others: {"path", "skipped": [[path, reason]], "error"}.
std::string describe_pick(const CheckpointTarget& target, const NewestCheckpoint& newest) {
  nlohmann::json pick = {{"path", ""}, {"skipped", nlohmann::json::array()}, {"error", ""}};
  for (const SkippedCheckpoint& s : newest.skipped) {
    pick["skipped"].push_back({s.path.string(), s.reason});
  }
  if (newest.checkpoint) {
    pick["path"] = newest.checkpoint->path.string();
  } else if (!newest.skipped.empty()) {
    const std::string where = target.folder.empty() ? target.file.string() : target.folder.string();
    pick["error"] = "resume auto: no valid checkpoint in '" + where +
                    "': " + std::to_string(newest.skipped.size()) +
                    " file(s) torn or corrupt, the newest '" +
                    newest.skipped.front().path.string() + "': " + newest.skipped.front().reason +
                    " (move them away to start the run afresh)";
  }
  return pick.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string error_pick(const std::string& error) {
  const nlohmann::json pick = {
      {"path", ""}, {"skipped", nlohmann::json::array()}, {"error", error}};
  return pick.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

ResumePoint find_resume_checkpoint(comm::Communicator& communicator, const std::string& resume,
                                   const CheckpointTarget& target) {
  ResumePoint point;
  if (resume.empty()) return point;
  if (resume != "auto") {
    point.checkpoint = read_checkpoint(resume);
    return point;
  }
  LOCKSTEP_CHECK(target.enabled(),
                 "resume auto: there is no checkpoint folder or file to look "
                 "in (give one to resume from)");
  NewestCheckpoint newest;  // rank 0 only
  std::string text;
  if (communicator.rank() == 0) {
    try {
      newest = look_for_newest(target);
      text = describe_pick(target, newest);
    } catch (const std::exception& e) {
      text = error_pick(e.what());
    }
  }
  const nlohmann::json pick =
      nlohmann::json::parse(broadcast_text(communicator, text, "resume checkpoint choice"));
  const std::string error = pick["error"].get<std::string>();
  LOCKSTEP_CHECK(error.empty(), error);
  for (const nlohmann::json& s : pick["skipped"]) {
    point.skipped.push_back({s[0].get<std::string>(), s[1].get<std::string>()});
  }
  const std::string path = pick["path"].get<std::string>();
  if (communicator.rank() == 0) {
    point.checkpoint = std::move(newest.checkpoint);
  } else if (!path.empty()) {
    point.checkpoint = read_checkpoint(path);
  }
  return point;
}

}  // namespace lockstep::io
