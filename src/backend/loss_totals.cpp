// Backend's default for the deferred loss: the synchronous ops, added on the host. Right for
// a backend whose memory is host memory (the CPU's), where nothing is waited for anyway.
#include "lockstep/backend/backend.h"

namespace lockstep::backend {

void Backend::softmax_cross_entropy_labels_into(const float* logits, const float* labels,
                                                float* dlogits, int64_t rows, int64_t classes,
                                                int64_t /*first_row*/, LossTotals* totals) {
  const double sum = softmax_cross_entropy_labels(logits, labels, dlogits, rows, classes);
  totals->correct += count_correct(logits, labels, rows, classes);
  totals->sum += sum;
}

}  // namespace lockstep::backend
