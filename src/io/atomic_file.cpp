// AtomicFile: temporary file, fsync, rename over the target, fsync of the folder.
#include "lockstep/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <random>
#include <sstream>
#include <string>

#include "lockstep/base/error.h"
#include "lockstep/base/logging.h"

namespace lockstep::io {

namespace {

std::string errno_text(int error) { return std::strerror(error); }

std::filesystem::path folder_of(const std::filesystem::path& target) {
  const std::filesystem::path parent = target.parent_path();
  return parent.empty() ? std::filesystem::path(".") : parent;
}

// ".<name>.tmp-<pid>-<count>-<random>": hidden, unique per process and attempt, and in the
// target's folder so that the rename never crosses file systems.
std::filesystem::path temporary_name(const std::filesystem::path& target) {
  static std::atomic<uint64_t> counter{0};
  static thread_local std::mt19937_64 random{std::random_device{}()};
  std::ostringstream name;
  name << "." << target.filename().string() << ".tmp-" << ::getpid() << "-" << counter++ << "-"
       << std::hex << (random() & 0xffffffffu);
  return folder_of(target) / name.str();
}

void sync_folder(const std::filesystem::path& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  LOCKSTEP_CHECK(
      fd >= 0, "cannot open folder '" << folder.string() << "' to sync it: " << errno_text(errno));
  const int result = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  LOCKSTEP_CHECK(result == 0,
                 "cannot sync folder '" << folder.string() << "': " << errno_text(error));
}

}  // namespace

AtomicFile::AtomicFile(std::filesystem::path target) : target_(std::move(target)) {
  LOCKSTEP_CHECK(!target_.filename().empty(),
                 "cannot write '" << target_.string() << "': the path names no file");
  constexpr int kAttempts = 16;
  for (int attempt = 0; attempt < kAttempts && fd_ < 0; ++attempt) {
    temporary_ = temporary_name(target_);
    fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0 && errno != EEXIST) break;
  }
  LOCKSTEP_CHECK(fd_ >= 0, "cannot write '" << target_.string() << "': creating the temporary '"
                                            << temporary_.string()
                                            << "' failed: " << errno_text(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && ::unlink(temporary_.c_str()) != 0 && errno != ENOENT) {
    logging::warn("could not remove the temporary file '%s': %s", temporary_.c_str(),
                  errno_text(errno).c_str());
  }
}

void AtomicFile::write(const void* data, size_t bytes) {
  LOCKSTEP_CHECK(fd_ >= 0 && !committed_,
                 "AtomicFile: write to '" << target_.string() << "' after commit");
  const char* next = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t written = ::write(fd_, next, bytes);
    if (written < 0 && errno == EINTR) continue;
    LOCKSTEP_CHECK(written > 0, "cannot write '" << target_.string() << "': writing the temporary '"
                                                 << temporary_.string()
                                                 << "' failed: " << errno_text(errno));
    next += written;
    bytes -= static_cast<size_t>(written);
  }
}

void AtomicFile::commit(const std::function<void()>& before_rename) {
  LOCKSTEP_CHECK(fd_ >= 0 && !committed_,
                 "AtomicFile: '" << target_.string() << "' is already committed");
  LOCKSTEP_CHECK(::fsync(fd_) == 0,
                 "cannot write '" << target_.string()
                                  << "': syncing the temporary failed: " << errno_text(errno));
  const int fd = fd_;
  fd_ = -1;
  LOCKSTEP_CHECK(::close(fd) == 0, "cannot write '"
                                       << target_.string()
                                       << "': closing the temporary failed: " << errno_text(errno));
  if (before_rename) before_rename();
  LOCKSTEP_CHECK(::rename(temporary_.c_str(), target_.c_str()) == 0,
                 "cannot write '" << target_.string() << "': renaming the temporary '"
                                  << temporary_.string()
                                  << "' over it failed: " << errno_text(errno));
  committed_ = true;
  sync_folder(folder_of(target_));
}

}  // namespace lockstep::io
