// Arrivals: which collective each rank has reached, as far as rank 0 can tell. Every other
// rank sends rank 0 a small token (its sequence number) as it enters a collective, on a
// communicator of their own; rank 0 reads them when it starts a collective and before it
// reports a timeout, so it can name the ranks that never arrived.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <deque>
#include <vector>

namespace lockstep::comm::detail {

class Arrivals {
 public:
  // Collective over `parent` (duplicates it). Rank 0 posts one receive per peer.
  explicit Arrivals(MPI_Comm parent);
  ~Arrivals();
  Arrivals(const Arrivals&) = delete;
  Arrivals& operator=(const Arrivals&) = delete;

  // This rank enters collective `sequence`: other ranks tell rank 0, rank 0 reads tokens.
  void enter(int64_t sequence);
  // Rank 0 only: the ranks whose last token is older than `sequence` (tokens read first).
  std::vector<int> missing(int64_t sequence);
  bool tracks() const { return rank_ == 0; }

 private:
  struct Token {
    int64_t sequence;
    MPI_Request request;
  };
  void read_tokens();
  void send_token(int64_t sequence);

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  // Rank 0: the last sequence number each rank announced (-1: none yet), and one persistent
  // receive per rank into its buffer (rank 0's own entry stays inactive).
  std::vector<int64_t> arrived_;
  std::vector<int64_t> buffers_;
  std::vector<MPI_Request> receives_;
  // Other ranks: tokens in flight, oldest first; a deque keeps their addresses stable.
  std::deque<Token> sent_;
};

}  // namespace lockstep::comm::detail
