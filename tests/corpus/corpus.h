// Shared by the hostile-file tests of the data and io binaries: the corpus folder, its
// manifest (which reader each malformed file goes through and what its error must say), and a
// probe of peak resident memory so a test can show that a reader did not allocate a claim.
#pragma once

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "lockstep/base/error.h"

namespace lockstep::testing::corpus {

inline const std::filesystem::path kDir = LOCKSTEP_TEST_CORPUS_DIR;

// One line of manifest.tsv: `reader` (read_idx, read_npy, ...) must reject `file` (relative to
// the corpus folder, read with `companion` where the reader takes two files) with a
// lockstep::Error whose message holds the file's path and `fragment`.
struct Case {
  std::string reader;
  std::string file;
  std::string companion;  // "-" when the reader takes one file
  std::string fragment;

  std::filesystem::path path() const { return kDir / file; }
  std::filesystem::path companion_path() const { return kDir / companion; }
};

inline std::vector<Case> read_manifest() {
  std::ifstream in(kDir / "manifest.tsv");
  std::vector<Case> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    std::stringstream split(line);
    for (std::string field; std::getline(split, field, '\t');) fields.push_back(field);
    if (fields.size() != 4) {
      ADD_FAILURE() << "manifest.tsv: expected 4 tab-separated fields in '" << line << "'";
      continue;
    }
    cases.push_back({fields[0], fields[1], fields[2], fields[3]});
  }
  return cases;
}

// The files under corpus/<folder>, relative to the corpus folder ("idx/truncated_body.idx").
inline std::set<std::string> files_under(const std::string& folder) {
  std::set<std::string> files;
  for (const auto& item : std::filesystem::recursive_directory_iterator(kDir / folder)) {
    if (item.is_regular_file()) {
      files.insert(std::filesystem::relative(item.path(), kDir).generic_string());
    }
  }
  return files;
}

// Passes when `call` throws lockstep::Error naming `must_name` and holding `fragment`; fails
// on no error, a foreign exception, or a message without the file or the field.
inline ::testing::AssertionResult rejects(const std::function<void()>& call,
                                          const std::string& must_name,
                                          const std::string& fragment) {
  try {
    call();
  } catch (const Error& error) {
    const std::string& message = error.message();
    if (message.find(must_name) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "message \"" << message << "\" does not name the file " << must_name;
    }
    if (message.find(fragment) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "message \"" << message << "\" lacks \"" << fragment << "\"";
    }
    return ::testing::AssertionSuccess();
  } catch (const std::exception& other) {
    return ::testing::AssertionFailure() << "threw a non-lockstep exception: " << other.what();
  }
  return ::testing::AssertionFailure() << "accepted the file";
}

// Peak resident memory since the last reset. Linux resets the high-water mark when "5" is
// written to /proc/self/clear_refs; where that is refused, the probe falls back to the
// process's lifetime peak (getrusage), which can only miss growth, never invent it.
class PeakMemory {
 public:
  PeakMemory() { reset(); }

  void reset() {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
    clear.close();
    exact_ = clear.good();
    start_ = exact_ ? status_kib("VmRSS:") : lifetime_peak_kib();
  }

  // Bytes the peak rose above the resident size at the reset.
  int64_t growth_bytes() const {
    const int64_t peak = exact_ ? status_kib("VmHWM:") : lifetime_peak_kib();
    return peak > start_ ? (peak - start_) * 1024 : 0;
  }

 private:
  static int64_t status_kib(const std::string& key) {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind(key, 0) == 0) return std::strtoll(line.c_str() + key.size(), nullptr, 10);
    }
    return 0;
  }
  static int64_t lifetime_peak_kib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
  }

  bool exact_ = false;
  int64_t start_ = 0;
};

// Corpus files are a few hundred bytes; a reader that trusts a size field allocates and fills
// gigabytes. 32 MiB leaves room for sanitizer bookkeeping and the first use of the C++ library.
inline constexpr int64_t kMaxPeakGrowthBytes = int64_t{32} << 20;

}  // namespace lockstep::testing::corpus
