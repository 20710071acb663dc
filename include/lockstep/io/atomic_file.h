// AtomicFile: writes a file so that readers see either its previous content or the whole new
// one, never a torn mix: the bytes go to a unique temporary in the same folder, which is
// flushed, renamed over the target and followed by an fsync of the folder.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>

namespace lockstep::io {

class AtomicFile {
 public:
  // Creates the temporary next to `target`; throws lockstep::Error when it cannot.
  explicit AtomicFile(std::filesystem::path target);
  // Removes the temporary unless commit() succeeded; never throws.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Appends `bytes` bytes to the temporary.
  void write(const void* data, size_t bytes);
  // Flushes and syncs the temporary, renames it over the target and syncs the folder.
  // `before_rename`, when given, runs once the temporary is complete and synced, just before
  // the rename (a test hook can end the process there to prove the target stays intact).
  void commit(const std::function<void()>& before_rename = {});

  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& temporary_path() const { return temporary_; }

 private:
  std::filesystem::path target_;
  std::filesystem::path temporary_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace lockstep::io
