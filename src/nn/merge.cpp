// Add and Concatenate, and the one-input forms every MultiInputLayer refuses. Add sums its
// inputs in input order (x0 + x1, then + x2, ...), so a row's result never depends on the batch.
#include "lockstep/nn/merge.h"

#include <algorithm>
#include <sstream>

#include "lockstep/backend/backend.h"
#include "lockstep/base/error.h"
#include "nn/layer_util.h"

namespace lockstep::nn {

namespace {

std::string shapes_text(const std::vector<Shape>& shapes) {
  std::ostringstream text;
  for (size_t i = 0; i < shapes.size(); ++i) text << (i ? ", " : "") << to_string(shapes[i]);
  return text.str();
}

// Every input on one device with one batch size; returns the per-sample shapes.
std::vector<Shape> check_inputs(const char* layer, const std::vector<Tensor>& inputs) {
  LOCKSTEP_CHECK(inputs.size() >= 2, layer << ": needs at least 2 inputs, found " << inputs.size());
  std::vector<Shape> shapes;
  for (const Tensor& x : inputs) {
    LOCKSTEP_CHECK(x.defined() && x.dim() >= 2,
                   layer << ": inputs must be [batch, ...], found " << to_string(x.shape()));
    LOCKSTEP_CHECK(x.size(0) == inputs[0].size(0) && x.device() == inputs[0].device(),
                   layer << ": inputs have batches " << inputs[0].size(0) << " on "
                         << inputs[0].device().str() << " and " << x.size(0) << " on "
                         << x.device().str() << "; they must agree");
    shapes.push_back(detail::per_sample(x.shape()));
  }
  return shapes;
}

}  // namespace

Shape MultiInputLayer::output_shape(const Shape& /*input_shape*/) const {
  LOCKSTEP_THROW(type() << " combines several inputs; give it at least 2 in the model");
}

Tensor MultiInputLayer::forward(const Tensor& /*x*/, const ForwardContext& /*context*/) {
  LOCKSTEP_THROW(type() << " combines several inputs; call forward_inputs");
}

Tensor MultiInputLayer::backward(const Tensor& /*dy*/) {
  LOCKSTEP_THROW(type() << " combines several inputs; call backward_inputs");
}

// ---- Add ----------------------------------------------------------------------------------

Shape Add::output_shape_of(const std::vector<Shape>& input_shapes) const {
  LOCKSTEP_CHECK(input_shapes.size() >= 2,
                 "Add: needs at least 2 inputs, found " << input_shapes.size());
  for (const Shape& shape : input_shapes) {
    LOCKSTEP_CHECK(shape == input_shapes[0],
                   "Add: inputs must have one shape, found " << shapes_text(input_shapes));
  }
  return input_shapes[0];
}

Tensor Add::forward_inputs(const std::vector<Tensor>& inputs, const ForwardContext& context) {
  const Shape output_shape =
      detail::with_batch(inputs[0].size(0), output_shape_of(check_inputs("Add", inputs)));
  saved_.push(context, {{output_shape, inputs[0].device()}, inputs.size()});
  Tensor y = inputs[0].clone();
  backend::Backend& backend = backend::backend_for(y.device());
  for (size_t i = 1; i < inputs.size(); ++i) {
    backend.axpy(y.numel(), 1.0f, inputs[i].data(), y.data());
  }
  return y;
}

std::vector<Tensor> Add::backward_inputs(const Tensor& dy) {
  const Saved saved = saved_.pop("Add");
  detail::check_gradient("Add", dy, saved.output.shape, saved.output.device);
  return std::vector<Tensor>(saved.inputs, dy);
}

// ---- Concatenate --------------------------------------------------------------------------

Shape Concatenate::output_shape_of(const std::vector<Shape>& input_shapes) const {
  LOCKSTEP_CHECK(input_shapes.size() >= 2,
                 "Concatenate: needs at least 2 inputs, found " << input_shapes.size());
  Shape output = input_shapes[0];
  LOCKSTEP_CHECK(!output.empty(), "Concatenate: inputs need at least one dimension");
  for (size_t i = 1; i < input_shapes.size(); ++i) {
    const Shape& shape = input_shapes[i];
    const bool fits = shape.size() == output.size() &&
                      std::equal(shape.begin() + 1, shape.end(), output.begin() + 1);
    LOCKSTEP_CHECK(fits,
                   "Concatenate: inputs must agree in every extent but the first (the "
                   "channels), found "
                       << shapes_text(input_shapes));
    output[0] += shape[0];
  }
  return output;
}

Tensor Concatenate::forward_inputs(const std::vector<Tensor>& inputs,
                                   const ForwardContext& context) {
  const std::vector<Shape> shapes = check_inputs("Concatenate", inputs);
  const int64_t batch = inputs[0].size(0);
  Saved saved;
  saved.output = {detail::with_batch(batch, output_shape_of(shapes)), inputs[0].device()};
  Tensor y = Tensor::empty(saved.output.shape, inputs[0].device());
  // Row-major [batch, C, ...]: each input is a block of columns of y's rows.
  const int64_t row = y.numel() / std::max<int64_t>(batch, 1);
  backend::Backend& backend = backend::backend_for(y.device());
  int64_t offset = 0;
  for (const Tensor& x : inputs) {
    const int64_t cols = shape_numel(detail::per_sample(x.shape()));
    backend.copy_rows(y.data() + offset, row, x.data(), cols, batch, cols);
    saved.input_shapes.push_back(x.shape());
    offset += cols;
  }
  saved_.push(context, std::move(saved));
  return y;
}

std::vector<Tensor> Concatenate::backward_inputs(const Tensor& dy) {
  const Saved saved = saved_.pop("Concatenate");
  detail::check_gradient("Concatenate", dy, saved.output.shape, saved.output.device);
  const int64_t batch = saved.output.shape[0];
  const int64_t row = dy.numel() / std::max<int64_t>(batch, 1);
  backend::Backend& backend = backend::backend_for(dy.device());
  std::vector<Tensor> grads;
  int64_t offset = 0;
  for (const Shape& shape : saved.input_shapes) {
    Tensor dx = Tensor::empty(shape, dy.device());
    const int64_t cols = shape_numel(detail::per_sample(shape));
    backend.copy_rows(dx.data(), cols, dy.data() + offset, row, batch, cols);
    grads.push_back(dx);
    offset += cols;
  }
  return grads;
}

}  // namespace lockstep::nn
