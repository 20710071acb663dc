// RowExchange: scatterv / gatherv of row blocks with a cached partition layout.
#include "parallel/row_exchange.h"

namespace lockstep::parallel {

const data::CountsAndDisplacements& RowExchange::layout(int64_t rows, int64_t row_elements) {
  if (rows != rows_ || row_elements != row_elements_) {
    layout_ = data::counts_and_displacements(rows, communicator_.size(), row_elements, group_);
    rows_ = rows;
    row_elements_ = row_elements;
  }
  return layout_;
}

void RowExchange::scatter(const float* root_block, int64_t rows, int64_t row_elements,
                          float* local) {
  const data::CountsAndDisplacements& l = layout(rows, row_elements);
  communicator_.scatterv(root_block, l.counts, l.displacements, local, 0);
}

int64_t RowExchange::start_scatter(const float* root_block, int64_t rows, int64_t row_elements,
                                   float* local) {
  const data::CountsAndDisplacements& l = layout(rows, row_elements);
  return communicator_.start_scatterv(root_block, l.counts, l.displacements, local, 0);
}

void RowExchange::gather(const float* local, int64_t rows, int64_t row_elements,
                         float* root_block) {
  const data::CountsAndDisplacements& l = layout(rows, row_elements);
  communicator_.gatherv(local, l.counts, l.displacements, root_block, 0);
}

}  // namespace lockstep::parallel
