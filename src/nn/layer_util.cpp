// Shape text and common checks for the layers.
#include "nn/layer_util.h"

namespace lockstep::nn::detail {

std::string batched(const Shape& per_sample) {
  std::string text = "[batch";
  for (int64_t extent : per_sample) text += ", " + std::to_string(extent);
  return text + "]";
}

Shape with_batch(int64_t batch, const Shape& per_sample) {
  Shape shape{batch};
  shape.insert(shape.end(), per_sample.begin(), per_sample.end());
  return shape;
}

Shape per_sample(const Shape& shape) {
  return shape.empty() ? Shape{} : Shape(shape.begin() + 1, shape.end());
}

void check_gradient(const char* layer, const Tensor& dy, const Shape& output_shape,
                    const Device& device) {
  LOCKSTEP_CHECK(!output_shape.empty(), layer << ": backward called before forward");
  LOCKSTEP_CHECK(dy.shape() == output_shape,
                 layer << ": output gradient has shape " << to_string(dy.shape())
                       << ", expected the forward output's shape " << to_string(output_shape));
  LOCKSTEP_CHECK(dy.device() == device, layer << ": output gradient is on " << dy.device().str()
                                              << ", expected " << device.str());
}

void check_image_shape(const char* layer, const Shape& per_sample, int64_t channels) {
  LOCKSTEP_CHECK(per_sample.size() == 3 && per_sample[0] == channels,
                 layer << ": per-sample input shape is " << to_string(per_sample) << ", expected ["
                       << channels << ", height, width]");
}

void check_image_batch(const char* layer, const Tensor& x, int64_t channels) {
  LOCKSTEP_CHECK(x.dim() == 4 && x.size(1) == channels,
                 layer << ": input has shape " << to_string(x.shape()) << ", expected [batch, "
                       << channels << ", height, width]");
}

void check_parameter_device(const char* layer, const char* what, const Tensor& parameter,
                            const Tensor& x) {
  LOCKSTEP_CHECK(parameter.device() == x.device(), layer << ": input is on " << x.device().str()
                                                         << " but the " << what << " is on "
                                                         << parameter.device().str());
}

}  // namespace lockstep::nn::detail
