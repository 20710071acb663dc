// A scratch file for the fuzz targets: Lockstep's readers take paths, so each input is written
// to one file per process (in /dev/shm when there is one, to keep it off the disk) and read back.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace lockstep::fuzz {

class ScratchFile {
 public:
  // `suffix` ends the file name (".gz"): the readers must not care, and messages show it.
  explicit ScratchFile(const std::string& suffix) {
    std::error_code error;
    const std::filesystem::path folder = std::filesystem::is_directory("/dev/shm", error)
                                             ? std::filesystem::path("/dev/shm")
                                             : std::filesystem::temp_directory_path();
    std::string name = (folder / "lockstep-fuzz-XXXXXX").string() + suffix;
    fd_ = ::mkstemps(name.data(), static_cast<int>(suffix.size()));
    if (fd_ < 0) {
      std::perror("lockstep fuzz: mkstemps");
      std::abort();
    }
    path_ = name;
  }
  ~ScratchFile() {
    ::close(fd_);
    std::error_code error;
    std::filesystem::remove(path_, error);
  }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Replaces the file's contents with `size` bytes at `data`; returns its path.
  const std::filesystem::path& write(const void* data, size_t size) {
    const auto* bytes = static_cast<const uint8_t*>(data);
    if (::ftruncate(fd_, 0) != 0) fail("ftruncate");
    size_t done = 0;
    while (done < size) {
      const ssize_t wrote = ::pwrite(fd_, bytes + done, size - done, static_cast<off_t>(done));
      if (wrote <= 0) fail("pwrite");
      done += static_cast<size_t>(wrote);
    }
    return path_;
  }

 private:
  [[noreturn]] static void fail(const char* call) {
    std::perror(call);
    std::abort();
  }

  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace lockstep::fuzz
