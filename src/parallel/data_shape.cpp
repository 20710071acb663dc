// Agreeing on a data set's shape: a fixed-size int64 record, broadcast or allgathered.
#include "parallel/data_shape.h"

#include <sstream>
#include <vector>

#include "lockstep/base/error.h"

namespace lockstep::parallel {

namespace {

constexpr size_t kMaxDims = 8;
// [samples, sample rank, sample dims x8, label rank, label dims x8]
constexpr size_t kRecordSize = 2 + 2 * kMaxDims;
using Record = std::vector<int64_t>;

void put_shape(Record& record, size_t at, const Shape& shape) {
  LOCKSTEP_CHECK(shape.size() <= kMaxDims, "DataParallel: samples of shape "
                                               << to_string(shape) << " have more than " << kMaxDims
                                               << " dimensions");
  record[at] = static_cast<int64_t>(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) record[at + 1 + d] = shape[d];
}

Shape get_shape(const Record& record, size_t at) {
  const int64_t rank = record[at];
  LOCKSTEP_CHECK(rank >= 0 && rank <= static_cast<int64_t>(kMaxDims),
                 "DataParallel: received a data shape of rank " << rank);
  return Shape(record.begin() + static_cast<std::ptrdiff_t>(at + 1),
               record.begin() + static_cast<std::ptrdiff_t>(at + 1 + static_cast<size_t>(rank)));
}

Record encode(const DataShape& shape) {
  Record record(kRecordSize, 0);
  record[0] = shape.samples;
  put_shape(record, 1, shape.sample_shape);
  put_shape(record, 2 + kMaxDims, shape.label_shape);
  return record;
}

DataShape decode(const Record& record) {
  return {record[0], get_shape(record, 1), get_shape(record, 2 + kMaxDims)};
}

}  // namespace

int64_t DataShape::sample_elements() const { return shape_numel(sample_shape); }
int64_t DataShape::label_elements() const { return shape_numel(label_shape); }

DataShape shape_of(const data::Dataset& data) {
  if (!data.inputs().defined()) return {};
  return {data.size(), data.sample_shape(), data.label_shape()};
}

DataShape broadcast_data_shape(comm::Communicator& communicator, const DataShape& root_shape) {
  Record record = communicator.rank() == 0 ? encode(root_shape) : Record(kRecordSize, 0);
  communicator.broadcast(record.data(), static_cast<int64_t>(kRecordSize * sizeof(int64_t)), 0);
  return decode(record);
}

DataShape agree_on_data_shape(comm::Communicator& communicator, const data::Dataset& data,
                              InputMode mode) {
  if (mode == InputMode::kScatter) return broadcast_data_shape(communicator, shape_of(data));
  const int64_t bytes = static_cast<int64_t>(kRecordSize * sizeof(int64_t));
  const Record mine = encode(shape_of(data));
  Record all(kRecordSize * static_cast<size_t>(communicator.size()));
  communicator.allgather(mine.data(), bytes, all.data());
  std::ostringstream differing;
  for (int r = 1; r < communicator.size(); ++r) {
    if (!std::equal(all.begin(), all.begin() + kRecordSize,
                    all.begin() + static_cast<std::ptrdiff_t>(kRecordSize) * r)) {
      differing << (differing.tellp() > 0 ? ", " : "") << r;
    }
  }
  LOCKSTEP_CHECK(differing.str().empty(),
                 "DataParallel: with --input sharded every rank needs the same data set, but "
                 "ranks "
                     << differing.str() << " hold another sample count or shape than rank 0");
  return decode(mine);
}

}  // namespace lockstep::parallel
