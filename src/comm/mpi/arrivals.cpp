// Arrival tokens: persistent receives on rank 0, small non-blocking sends everywhere else.
#include "comm/mpi/arrivals.h"

#include <cstdio>

#include "comm/mpi/mpi_check.h"
#include "lockstep/base/logging.h"

namespace lockstep::comm::detail {

namespace {

constexpr int kTokenTag = 1;

}  // namespace

Arrivals::Arrivals(MPI_Comm parent) {
  LOCKSTEP_MPI_CHECK(MPI_Comm_dup(parent, &comm_));
  try {
    LOCKSTEP_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
    LOCKSTEP_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
    LOCKSTEP_MPI_CHECK(MPI_Comm_size(comm_, &size_));
    if (rank_ != 0) return;
    const auto n = static_cast<size_t>(size_);
    arrived_.assign(n, -1);
    buffers_.assign(n, -1);
    receives_.assign(n, MPI_REQUEST_NULL);
    for (int r = 1; r < size_; ++r) {
      const auto i = static_cast<size_t>(r);
      LOCKSTEP_MPI_CHECK(
          MPI_Recv_init(&buffers_[i], 1, MPI_INT64_T, r, kTokenTag, comm_, &receives_[i]));
      LOCKSTEP_MPI_CHECK(MPI_Start(&receives_[i]));
    }
  } catch (...) {
    for (MPI_Request& request : receives_) {
      if (request != MPI_REQUEST_NULL) MPI_Request_free(&request);
    }
    MPI_Comm_free(&comm_);
    throw;
  }
}

// Only on a clean shutdown (MPI still running): rank 0 withdraws its receives, the others
// wait for their tokens, which are a few bytes each and so leave at once.
Arrivals::~Arrivals() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  int code = MPI_SUCCESS;
  for (MPI_Request& request : receives_) {
    if (request == MPI_REQUEST_NULL) continue;
    MPI_Cancel(&request);
    MPI_Wait(&request, MPI_STATUS_IGNORE);
    if (MPI_Request_free(&request) != MPI_SUCCESS) code = MPI_ERR_REQUEST;
  }
  for (Token& token : sent_) {
    if (MPI_Wait(&token.request, MPI_STATUS_IGNORE) != MPI_SUCCESS) code = MPI_ERR_REQUEST;
  }
  if (MPI_Comm_free(&comm_) != MPI_SUCCESS) code = MPI_ERR_COMM;
  if (code != MPI_SUCCESS) {
    logging::warn("releasing the arrival tokens failed (MPI code %d)", code);
  }
}

void Arrivals::enter(int64_t sequence) {
  if (size_ == 1) return;
  if (rank_ == 0) {
    read_tokens();
  } else {
    send_token(sequence);
  }
}

void Arrivals::send_token(int64_t sequence) {
  // Tokens that have left need no more attention; most leave as soon as they are sent.
  while (!sent_.empty()) {
    int done = 0;
    LOCKSTEP_MPI_CHECK(MPI_Test(&sent_.front().request, &done, MPI_STATUS_IGNORE));
    if (!done) break;
    sent_.pop_front();
  }
  Token& token = sent_.emplace_back(Token{sequence, MPI_REQUEST_NULL});
  LOCKSTEP_MPI_CHECK(
      MPI_Isend(&token.sequence, 1, MPI_INT64_T, 0, kTokenTag, comm_, &token.request));
}

void Arrivals::read_tokens() {
  std::vector<int> indices(receives_.size());
  for (;;) {
    int count = 0;
    LOCKSTEP_MPI_CHECK(MPI_Testsome(static_cast<int>(receives_.size()), receives_.data(), &count,
                                    indices.data(), MPI_STATUSES_IGNORE));
    if (count == MPI_UNDEFINED || count == 0) return;
    for (int k = 0; k < count; ++k) {
      const auto i = static_cast<size_t>(indices[static_cast<size_t>(k)]);
      arrived_[i] = buffers_[i];
      LOCKSTEP_MPI_CHECK(MPI_Start(&receives_[i]));  // the next token of that rank
    }
  }
}

std::vector<int> Arrivals::missing(int64_t sequence) {
  std::vector<int> ranks;
  if (rank_ != 0 || size_ == 1) return ranks;
  read_tokens();
  for (int r = 1; r < size_; ++r) {
    if (arrived_[static_cast<size_t>(r)] < sequence) ranks.push_back(r);
  }
  return ranks;
}

}  // namespace lockstep::comm::detail
