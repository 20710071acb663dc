// The exit codes of Lockstep programs, in one place: each names a way a job ends, so that a
// scheduler or script can tell a bad command line from a hang, a preemption or a full disk.
#pragma once

namespace lockstep {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;            // an unexpected failure during the run
inline constexpr int kExitBadInput = 2;           // bad options, missing or malformed files
inline constexpr int kExitCollectiveTimeout = 3;  // a collective missed its deadline
inline constexpr int kExitPreempted = 4;          // stopped by a signal, after a checkpoint
inline constexpr int kExitCheckpointFailed = 5;   // a checkpoint could not be written

}  // namespace lockstep
