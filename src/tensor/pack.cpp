// pack_end_to_end (pack.h).
#include "tensor/pack.h"

#include <utility>

namespace lockstep {

void pack_end_to_end(std::span<Tensor* const> tensors, const Device& device) {
  int64_t total = 0;
  for (const Tensor* t : tensors) total += t->numel();
  const Tensor flat = Tensor::empty({total}, device);
  int64_t offset = 0;
  for (Tensor* t : tensors) {
    const int64_t n = t->numel();
    Tensor view = flat.rows(offset, offset + n).reshape(t->shape());
    view.copy_from(*t);
    *t = std::move(view);
    offset += n;
  }
}

}  // namespace lockstep
