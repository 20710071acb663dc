// Checkpoint folders: naming ckpt-<step>.safetensors, listing newest first, finding the newest
// valid file, and removing the old ones and the temporaries of interrupted writes.
#include "lockstep/io/checkpoint_dir.h"

#include <algorithm>
#include <charconv>
#include <system_error>

#include "lockstep/base/error.h"

namespace lockstep::io {

namespace {

constexpr std::string_view kPrefix = "ckpt-";
constexpr std::string_view kSuffix = ".safetensors";
// AtomicFile names its temporary ".<target name>.tmp-<pid>-<count>-<random>".
constexpr std::string_view kTemporaryPrefix = ".ckpt-";
constexpr std::string_view kTemporaryMark = ".safetensors.tmp-";

bool is_temporary(const std::string& name) {
  return name.starts_with(kTemporaryPrefix) && name.find(kTemporaryMark) != std::string::npos;
}

void remove_file(const std::filesystem::path& path, PruneResult& result) {
  std::error_code error;
  if (std::filesystem::remove(path, error)) {
    result.removed.push_back(path);
  } else if (error) {
    result.failed.push_back({path, error.message()});
  }
}

}  // namespace

std::filesystem::path checkpoint_path(const std::filesystem::path& folder, int64_t step) {
  LOCKSTEP_CHECK(step >= 0, "checkpoint_path: step must be at least 0, found " << step);
  return folder / (std::string(kPrefix) + std::to_string(step) + std::string(kSuffix));
}

std::optional<int64_t> checkpoint_step(const std::filesystem::path& file) {
  const std::string name = file.filename().string();
  if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix)) return std::nullopt;
  const char* begin = name.data() + kPrefix.size();
  const char* end = name.data() + name.size() - kSuffix.size();
  if (begin == end || *begin == '+' || *begin == '-') return std::nullopt;
  int64_t step = 0;
  const auto [stop, error] = std::from_chars(begin, end, step);
  if (error != std::errc() || stop != end) return std::nullopt;
  return step;
}

std::vector<CheckpointFile> list_checkpoints(const std::filesystem::path& folder) {
  std::vector<CheckpointFile> files;
  std::error_code error;
  if (!std::filesystem::is_directory(folder, error)) return files;
  std::filesystem::directory_iterator entries(folder, error);
  LOCKSTEP_CHECK(
      !error, "checkpoint folder '" << folder.string() << "': cannot list it: " << error.message());
  for (const std::filesystem::directory_entry& entry : entries) {
    const std::optional<int64_t> step = checkpoint_step(entry.path());
    if (step && !entry.is_directory(error)) files.push_back({*step, entry.path()});
  }
  std::sort(files.begin(), files.end(),
            [](const CheckpointFile& a, const CheckpointFile& b) { return a.step > b.step; });
  return files;
}

NewestCheckpoint read_newest_checkpoint(const std::filesystem::path& folder) {
  NewestCheckpoint newest;
  for (const CheckpointFile& file : list_checkpoints(folder)) {
    try {
      Checkpoint checkpoint = read_checkpoint(file.path);
      // A copied or renamed file would resume another step than its name promises.
      LOCKSTEP_CHECK(checkpoint.state.step == file.step,
                     "checkpoint '" << file.path.string() << "' holds step "
                                    << checkpoint.state.step << ", its name says " << file.step);
      newest.checkpoint = std::move(checkpoint);
      return newest;
    } catch (const Error& e) {
      newest.skipped.push_back({file.path, e.message()});
    } catch (const std::exception& e) {  // e.g. memory: still no reason to stop looking
      newest.skipped.push_back({file.path, e.what()});
    }
  }
  return newest;
}

PruneResult prune_checkpoints(const std::filesystem::path& folder, int64_t newest_step,
                              int64_t keep) {
  PruneResult result;
  int64_t kept = 0;
  try {
    for (const CheckpointFile& file : list_checkpoints(folder)) {
      if (file.step > newest_step) continue;
      if (kept++ >= std::max<int64_t>(keep, 1)) remove_file(file.path, result);
    }
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(folder, error)) {
      if (is_temporary(entry.path().filename().string())) remove_file(entry.path(), result);
    }
  } catch (const std::exception& e) {
    result.failed.push_back({folder, e.what()});
  }
  return result;
}

}  // namespace lockstep::io
