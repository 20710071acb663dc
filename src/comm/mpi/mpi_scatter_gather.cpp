// MpiCommunicator::scatterv and gatherv: one MPI_Iscatterv/MPI_Igatherv when every count and
// displacement fits one call, else point-to-point messages of at most max_chunk elements
// between root and each rank (root's own part is a local copy); waited for under the deadline.
#include <algorithm>
#include <cstring>

#include "comm/collective_args.h"
#include "comm/mpi/mpi_check.h"
#include "comm/mpi/mpi_communicator.h"

namespace lockstep::comm {

namespace {

// Tags of the split paths; the communicator is Lockstep's own duplicate, so they cannot meet
// an application's messages, and collectives never match point-to-point messages.
constexpr int kScatterTag = 1;
constexpr int kGatherTag = 2;

std::vector<int> to_int(const std::vector<int64_t>& values) {
  return std::vector<int>(values.begin(), values.end());  // callers checked the range
}

// The bytes this rank moves: root sends (scatterv) or receives (gatherv) every other rank's
// part, another rank its own.
int64_t bytes_moved(const std::vector<int64_t>& counts, int rank, int root) {
  int64_t elements = 0;
  if (rank == root) {
    for (size_t r = 0; r < counts.size(); ++r) {
      if (static_cast<int>(r) != root) elements += counts[r];
    }
  } else {
    elements = counts[static_cast<size_t>(rank)];
  }
  return elements * static_cast<int64_t>(sizeof(float));
}

void copy_floats(float* to, const float* from, int64_t count) {
  if (count > 0) std::memmove(to, from, static_cast<size_t>(count) * sizeof(float));
}

}  // namespace

bool MpiCommunicator::fits_one_call(const std::vector<int64_t>& counts,
                                    const std::vector<int64_t>& displacements) const {
  const auto within = [&](int64_t v) { return v <= max_chunk_; };
  return std::all_of(counts.begin(), counts.end(), within) &&
         std::all_of(displacements.begin(), displacements.end(), within);
}

void MpiCommunicator::post_sends(const float* data, int64_t count, int peer, int tag,
                                 std::vector<MPI_Request>& requests) const {
  for (int64_t offset = 0; offset < count;) {
    const int n = static_cast<int>(std::min(max_chunk_, count - offset));
    MPI_Request request = MPI_REQUEST_NULL;
    LOCKSTEP_MPI_CHECK(MPI_Isend(data + offset, n, MPI_FLOAT, peer, tag, comm_, &request));
    requests.push_back(request);
    offset += n;
  }
}

// Messages between one pair of ranks with one tag arrive in the order they were sent, so
// the chunks land in order.
void MpiCommunicator::post_receives(float* data, int64_t count, int peer, int tag,
                                    std::vector<MPI_Request>& requests) const {
  for (int64_t offset = 0; offset < count;) {
    const int n = static_cast<int>(std::min(max_chunk_, count - offset));
    MPI_Request request = MPI_REQUEST_NULL;
    LOCKSTEP_MPI_CHECK(MPI_Irecv(data + offset, n, MPI_FLOAT, peer, tag, comm_, &request));
    requests.push_back(request);
    offset += n;
  }
}

void MpiCommunicator::scatterv(const float* send, const std::vector<int64_t>& counts,
                               const std::vector<int64_t>& displacements, float* receive,
                               int root) {
  finish(start_scatterv(send, counts, displacements, receive, root));
}

int64_t MpiCommunicator::start_scatterv(const float* send, const std::vector<int64_t>& counts,
                                        const std::vector<int64_t>& displacements, float* receive,
                                        int root) {
  const char* where = "MpiCommunicator::scatterv";
  detail::check_root(where, root, size_);
  detail::check_layout(where, counts, displacements, size_);
  detail::check_buffer(where, "receive", receive, counts[static_cast<size_t>(rank_)]);
  if (rank_ == root) {
    detail::check_buffer(where, "send", send, detail::layout_extent(counts, displacements));
  }
  Pending pending{begin("scatterv", bytes_moved(counts, rank_, root)), label(), {}, {}, {}};
  if (fits_one_call(counts, displacements)) {
    // MPI reads the count arrays until the scatter completes: they live in `pending`.
    pending.counts = to_int(counts);
    pending.displacements = to_int(displacements);
    MPI_Request request = MPI_REQUEST_NULL;
    LOCKSTEP_MPI_CHECK(MPI_Iscatterv(send, pending.counts.data(), pending.displacements.data(),
                                     MPI_FLOAT, receive, pending.counts[static_cast<size_t>(rank_)],
                                     MPI_FLOAT, root, comm_, &request));
    pending.requests.push_back(request);
  } else {
    scatterv_chunks(send, counts, displacements, receive, root, pending.op);  // done here
  }
  const int64_t handle = pending.op.sequence;
  pending_.emplace(handle, std::move(pending));
  return handle;
}

void MpiCommunicator::scatterv_chunks(const float* send, const std::vector<int64_t>& counts,
                                      const std::vector<int64_t>& displacements, float* receive,
                                      int root, const Operation& op) {
  std::vector<MPI_Request> requests;
  if (rank_ == root) {
    for (int r = 0; r < size_; ++r) {
      const auto i = static_cast<size_t>(r);
      if (r == root) {
        copy_floats(receive, send + displacements[i], counts[i]);
      } else {
        post_sends(send + displacements[i], counts[i], r, kScatterTag, requests);
      }
    }
  } else {
    post_receives(receive, counts[static_cast<size_t>(rank_)], root, kScatterTag, requests);
  }
  wait(requests, op);
}

void MpiCommunicator::gatherv(const float* send, const std::vector<int64_t>& counts,
                              const std::vector<int64_t>& displacements, float* receive, int root) {
  const char* where = "MpiCommunicator::gatherv";
  detail::check_root(where, root, size_);
  detail::check_layout(where, counts, displacements, size_);
  detail::check_buffer(where, "send", send, counts[static_cast<size_t>(rank_)]);
  if (rank_ == root) {
    detail::check_buffer(where, "receive", receive, detail::layout_extent(counts, displacements));
  }
  const Operation op = begin("gatherv", bytes_moved(counts, rank_, root));
  if (!fits_one_call(counts, displacements)) {
    gatherv_chunks(send, counts, displacements, receive, root, op);
    return;
  }
  const std::vector<int> int_counts = to_int(counts), int_displacements = to_int(displacements);
  MPI_Request request = MPI_REQUEST_NULL;
  LOCKSTEP_MPI_CHECK(MPI_Igatherv(send, int_counts[static_cast<size_t>(rank_)], MPI_FLOAT, receive,
                                  int_counts.data(), int_displacements.data(), MPI_FLOAT, root,
                                  comm_, &request));
  wait(request, op);
}

void MpiCommunicator::gatherv_chunks(const float* send, const std::vector<int64_t>& counts,
                                     const std::vector<int64_t>& displacements, float* receive,
                                     int root, const Operation& op) {
  std::vector<MPI_Request> requests;
  if (rank_ == root) {
    for (int r = 0; r < size_; ++r) {
      const auto i = static_cast<size_t>(r);
      if (r == root) {
        copy_floats(receive + displacements[i], send, counts[i]);
      } else {
        post_receives(receive + displacements[i], counts[i], r, kGatherTag, requests);
      }
    }
  } else {
    post_sends(send, counts[static_cast<size_t>(rank_)], root, kGatherTag, requests);
  }
  wait(requests, op);
}

}  // namespace lockstep::comm
