// Reading safetensors files: the 8-byte length and the header are checked against the file
// size before anything is allocated from them; tensor data is read straight into tensors.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "io/safetensors_detail.h"
#include "lockstep/base/error.h"
#include "lockstep/io/safetensors.h"

namespace lockstep::io {

namespace {

// A file opened for reading by descriptor, so that its size and its bytes come from the
// same open file even if the path is replaced meanwhile.
class ReadOnlyFile {
 public:
  explicit ReadOnlyFile(const std::filesystem::path& path) : source_(path.string()) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    LOCKSTEP_CHECK(fd_ >= 0,
                   "safetensors file '" << source_ << "': cannot open: " << std::strerror(errno));
    struct stat info {};
    const bool stat_ok = ::fstat(fd_, &info) == 0;
    const int error = errno;
    if (!stat_ok || !S_ISREG(info.st_mode)) {
      ::close(fd_);
      LOCKSTEP_THROW("safetensors file '"
                     << source_
                     << "': " << (stat_ok ? "not a regular file" : std::strerror(error)));
    }
    size_ = static_cast<uint64_t>(info.st_size);
  }
  ~ReadOnlyFile() { ::close(fd_); }
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;

  const std::string& source() const { return source_; }
  uint64_t size() const { return size_; }

  // Reads exactly `bytes` bytes at `offset`; `what` says what they are, for errors.
  void read_at(uint64_t offset, void* data, size_t bytes, const std::string& what) const {
    char* next = static_cast<char*>(data);
    while (bytes > 0) {
      const ssize_t got = ::pread(fd_, next, bytes, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      LOCKSTEP_CHECK(got >= 0, "safetensors file '" << source_ << "': reading " << what
                                                    << " at offset " << offset
                                                    << " failed: " << std::strerror(errno));
      LOCKSTEP_CHECK(got > 0, "safetensors file '" << source_ << "': the file ended at offset "
                                                   << offset << " while reading " << what);
      next += got;
      offset += static_cast<uint64_t>(got);
      bytes -= static_cast<size_t>(got);
    }
  }

 private:
  std::string source_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

SafetensorsIndex read_index(const ReadOnlyFile& file) {
  const std::string& source = file.source();
  LOCKSTEP_CHECK(file.size() >= 8, "safetensors file '" << source << "': the file has "
                                                        << file.size()
                                                        << " bytes, fewer than the 8-byte header "
                                                           "length");
  unsigned char length_bytes[8];
  file.read_at(0, length_bytes, sizeof length_bytes, "the header length");
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | length_bytes[i];
  LOCKSTEP_CHECK(header_bytes <= kSafetensorsMaxHeaderBytes,
                 "safetensors file '" << source << "': header length " << header_bytes
                                      << " exceeds the limit of " << kSafetensorsMaxHeaderBytes
                                      << " bytes");
  LOCKSTEP_CHECK(header_bytes <= file.size() - 8,
                 "safetensors file '" << source << "': header length " << header_bytes
                                      << " runs past the end of the file (" << file.size()
                                      << " bytes, so at most " << file.size() - 8 << ")");
  std::string header(static_cast<size_t>(header_bytes), '\0');
  file.read_at(8, header.data(), header.size(), "the header");
  SafetensorsIndex index =
      detail::parse_safetensors_header(header, file.size() - 8 - header_bytes, source);
  index.data_start = 8 + header_bytes;
  return index;
}

}  // namespace

SafetensorsIndex read_safetensors_index(const std::filesystem::path& path) {
  const ReadOnlyFile file(path);
  return read_index(file);
}

SafetensorsFile read_safetensors(const std::filesystem::path& path) {
  const ReadOnlyFile file(path);
  SafetensorsIndex index = read_index(file);
  for (const SafetensorsEntry& entry : index.entries) {
    LOCKSTEP_CHECK(entry.dtype == "F32", "safetensors file '"
                                             << file.source() << "': tensor '" << entry.name
                                             << "' has unsupported dtype " << entry.dtype
                                             << "; Lockstep loads F32 tensors only");
  }
  SafetensorsFile result;
  result.metadata = std::move(index.metadata);
  result.tensors.reserve(index.entries.size());
  for (const SafetensorsEntry& entry : index.entries) {
    Tensor tensor = Tensor::empty(entry.shape);
    if (tensor.numel() > 0) {
      file.read_at(index.data_start + entry.begin, tensor.data(), tensor.bytes(),
                   "tensor '" + entry.name + "'");
      detail::swap_to_little_endian(tensor.data(), static_cast<size_t>(tensor.numel()));
    }
    result.tensors.push_back({entry.name, std::move(tensor)});
  }
  return result;
}

}  // namespace lockstep::io
