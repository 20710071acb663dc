// Rank-aware logging for every part of Lockstep: rank 0 speaks, every rank reports its warnings
// and errors. Apart from the progress bar of training, nothing else in the library writes to
// stdout or stderr.
#pragma once

namespace lockstep::logging {

// Sets the rank the functions below speak for (runtime::Runtime does it at start-up).
void set_rank(int rank);
int rank();
// printf-style line on stdout, printed by rank 0 only.
void info(const char* format, ...) __attribute__((format(printf, 1, 2)));
// "[rank R] warning: ..." on stderr, from any rank.
void warn(const char* format, ...) __attribute__((format(printf, 1, 2)));
// "[rank R] error: ..." on stderr, from any rank.
void error(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace lockstep::logging
