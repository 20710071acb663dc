// Fault injection, a testing aid: LOCKSTEP_FAULT=kind:rank:step makes one rank fail in a
// chosen way at a chosen training step, so that tests can check that the whole job still ends
// fast, says why, and leaves its checkpoints intact. Unset, it costs one branch per step.
#pragma once

#include <cstdint>
#include <string>

namespace lockstep::runtime {

// The faults LOCKSTEP_FAULT names:
//   sigkill             the rank kills itself with SIGKILL (a machine lost)
//   sigsegv             the rank raises SIGSEGV (a crash)
//   exit:CODE           the rank ends with exit code CODE (0-255) without finalising MPI
//   throw               the rank throws lockstep::Error (a failure the program reports)
//   hang                the rank sleeps forever; only the collective deadline ends the job
//   kill_in_checkpoint  the rank kills itself with SIGKILL while writing a checkpoint,
//                       after the temporary file is written and before it is renamed
enum class FaultKind { kNone, kSigkill, kSigsegv, kExit, kThrow, kHang, kKillInCheckpoint };

// One parsed LOCKSTEP_FAULT value. `step` counts training steps from 1 over the whole run (a
// resumed run continues the count), as DataParallel's StepReport::step does: step 3 is the
// third optimizer step.
struct FaultSpec {
  FaultKind kind = FaultKind::kNone;
  int rank = -1;
  int64_t step = 0;
  int exit_code = 0;  // kExit only
};

// The name LOCKSTEP_FAULT uses for `kind` ("sigkill", "exit", ...; "none" for kNone).
std::string fault_kind_name(FaultKind kind);

// Parses "kind:rank:step" ("exit:CODE:rank:step" for exit); an empty text is no fault.
// Throws lockstep::Error naming the part that is wrong and what was expected.
FaultSpec parse_fault_spec(const std::string& text);

// The process's LOCKSTEP_FAULT, read and parsed on the first call. A bad value throws
// lockstep::Error on this and every later call, so every rank reports it alike.
const FaultSpec& fault_spec();

// True when LOCKSTEP_FAULT asks for `kind` on `rank` at `step`. For kKillInCheckpoint the
// step is a threshold: the first checkpoint written at or after that step.
bool fault_requested(FaultKind kind, int rank, int64_t step);

// Called by the engine at the start of every training step (`step` counted from 1): raises
// the LOCKSTEP_FAULT fault when it names this rank and step (announced on stderr first).
// sigkill, sigsegv and exit end the process; hang never returns; throw throws
// lockstep::Error. Does nothing otherwise, and nothing for kill_in_checkpoint.
void inject_fault_at_step(int rank, int64_t step);

// Called by a checkpoint writer after its temporary file is complete and before the rename:
// kills this process when LOCKSTEP_FAULT is kill_in_checkpoint for `rank` and `step` (the
// step the checkpoint holds) has reached the fault's step. The one-argument form uses the last
// step inject_fault_at_step saw.
void inject_fault_in_checkpoint(int rank, int64_t step);
void inject_fault_in_checkpoint(int rank);

// Raises `spec`'s fault now, whatever its rank and step (the tests' entry point; the functions
// above call it). Returns only for kNone.
void raise_fault(const FaultSpec& spec);

}  // namespace lockstep::runtime
