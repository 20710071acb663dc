// CapturedStream: what a C stream (stdout, stderr) receives while one is alive, read back by
// redirecting the stream's file descriptor to a temporary file.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "support/test_support.h"

namespace lockstep::testing {

class CapturedStream {
 public:
  explicit CapturedStream(std::FILE* stream) : stream_(stream), fd_(fileno(stream)) {
    std::fflush(stream_);
    saved_fd_ = dup(fd_);
    std::FILE* target = std::fopen(path().c_str(), "w");
    dup2(fileno(target), fd_);
    std::fclose(target);
  }
  ~CapturedStream() { restore(); }
  CapturedStream(const CapturedStream&) = delete;
  CapturedStream& operator=(const CapturedStream&) = delete;

  // Ends the capture and returns everything written meanwhile.
  std::string text() {
    restore();
    std::ifstream in(path());
    std::ostringstream all;
    all << in.rdbuf();
    return all.str();
  }

 private:
  std::string path() const { return (dir_ / "captured.txt").string(); }
  void restore() {
    if (saved_fd_ < 0) return;
    std::fflush(stream_);
    dup2(saved_fd_, fd_);
    close(saved_fd_);
    saved_fd_ = -1;
  }

  TempDir dir_;
  std::FILE* stream_;
  int fd_;
  int saved_fd_ = -1;
};

}  // namespace lockstep::testing
