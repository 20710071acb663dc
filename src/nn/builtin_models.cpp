// The built-in model specs: mlp and cnn (chains), resnet20 and xception (graphs, written by a
// small builder so that the blocks read as loops; the result is an ordinary JSON spec).
#include <string>
#include <utility>
#include <vector>

#include "lockstep/base/error.h"
#include "lockstep/nn/model.h"

namespace lockstep::nn {

namespace {

using nlohmann::json;

// Appends layer entries to a spec; add returns the name later layers use as an input.
class SpecBuilder {
 public:
  // A layer fed by `inputs` (none: the layer added last); named `name`, or by its index.
  std::string add(json entry, std::vector<std::string> inputs = {}, const std::string& name = "") {
    if (!inputs.empty()) entry["inputs"] = inputs;
    if (!name.empty()) entry["name"] = name;
    layers_.push_back(std::move(entry));
    return name.empty() ? std::to_string(layers_.size() - 1) : name;
  }
  std::string last() const { return std::to_string(layers_.size() - 1); }

  // Convolution without bias (a BatchNorm follows), then BatchNorm, then ReLU unless told not.
  std::string conv_bn(int64_t filters, int64_t kernel, int64_t stride, json padding, bool relu,
                      std::vector<std::string> inputs = {}) {
    add({{"type", "Conv2D"},
         {"filters", filters},
         {"kernel_size", kernel},
         {"strides", stride},
         {"padding", std::move(padding)},
         {"use_bias", false},
         {"kernel_initializer", "he_normal"}},
        std::move(inputs));
    add({{"type", "BatchNorm"}});
    return relu ? add({{"type", "ReLU"}}) : last();
  }

  // Separable convolution (3x3 depthwise, then pointwise; no bias), then BatchNorm.
  std::string separable_bn(int64_t filters, std::vector<std::string> inputs = {}) {
    add({{"type", "SeparableConv2D"},
         {"filters", filters},
         {"kernel_size", 3},
         {"padding", "same"},
         {"use_bias", false},
         {"kernel_initializer", "he_normal"}},
        std::move(inputs));
    return add({{"type", "BatchNorm"}});
  }

  json spec(const std::string& name) const {
    return {{"name", name}, {"input_shape", {1, 28, 28}}, {"layers", layers_}};
  }

 private:
  json layers_ = json::array();
};

// He et al. 2016's CIFAR ResNet-20 on 28x28x1: a 3x3 stem of 16 channels, three stages of
// three basic blocks (two 3x3 convolutions with BatchNorm) of 16, 32 and 64 channels at 28, 14
// and 7 pixels, global average pooling and a 10-way Dense. A stage's first block halves the
// size with stride 2; its shortcut is then a strided 1x1 convolution with BatchNorm (option B).
json resnet20() {
  SpecBuilder b;
  std::string x = b.conv_bn(16, 3, 1, "same", true);
  for (int stage = 0; stage < 3; ++stage) {
    const int64_t filters = int64_t{16} << stage;
    for (int block = 0; block < 3; ++block) {
      const bool down = stage > 0 && block == 0;
      const std::string in = x;
      b.conv_bn(filters, 3, down ? 2 : 1, 1, true, {in});
      const std::string main = b.conv_bn(filters, 3, 1, "same", false);
      const std::string shortcut = down ? b.conv_bn(filters, 1, 2, 0, false, {in}) : in;
      const std::string name =
          "stage" + std::to_string(stage + 1) + "_block" + std::to_string(block + 1);
      b.add({{"type", "Add"}}, {shortcut, main}, name + "_sum");
      x = b.add({{"type", "ReLU"}}, {}, name);
    }
  }
  b.add({{"type", "GlobalAveragePooling2D"}});
  b.add({{"type", "Dense"}, {"units", 10}});
  return b.spec("resnet20");
}

// A small Xception (Chollet 2017) for 28x28x1. Entry flow: two 3x3 convolutions (16, 32
// channels) and two residual blocks of separable convolutions with BatchNorm, each ending in a
// 2x2 max-pool, with strided 1x1 convolution shortcuts (64 channels at 14 pixels, 128 at 7).
// Middle flow: two residual blocks of three ReLU-separable-BatchNorm units at 128 channels.
// Exit flow: a separable convolution to 256 channels, ReLU, global average pooling, Dense.
json xception() {
  SpecBuilder b;
  b.conv_bn(16, 3, 1, "same", true);
  std::string x = b.conv_bn(32, 3, 1, "same", true);
  int index = 0;
  for (const int64_t filters : {64, 128}) {
    const std::string name = "entry" + std::to_string(++index);
    const std::string in = x;
    if (index > 1) b.add({{"type", "ReLU"}}, {in});
    b.separable_bn(filters, index > 1 ? std::vector<std::string>{} : std::vector<std::string>{in});
    b.add({{"type", "ReLU"}});
    b.separable_bn(filters);
    const std::string main = b.add({{"type", "MaxPool2D"}, {"pool_size", 2}});
    const std::string shortcut = b.conv_bn(filters, 1, 2, 0, false, {in});
    x = b.add({{"type", "Add"}}, {shortcut, main}, name);
  }
  for (int block = 1; block <= 2; ++block) {
    const std::string in = x;
    for (int unit = 0; unit < 3; ++unit) {
      b.add({{"type", "ReLU"}},
            unit == 0 ? std::vector<std::string>{in} : std::vector<std::string>{});
      b.separable_bn(128);
    }
    x = b.add({{"type", "Add"}}, {in, b.last()}, "middle" + std::to_string(block));
  }
  b.add({{"type", "ReLU"}});
  b.separable_bn(256);
  b.add({{"type", "ReLU"}});
  b.add({{"type", "GlobalAveragePooling2D"}});
  b.add({{"type", "Dense"}, {"units", 10}});
  return b.spec("xception");
}

}  // namespace

nlohmann::json builtin_spec(const std::string& name) {
  using nlohmann::json;
  if (name == "mlp") {
    return {{"name", "mlp"},
            {"input_shape", {1, 28, 28}},
            {"layers",
             {{{"type", "Flatten"}},
              {{"type", "Dense"}, {"units", 256}},
              {{"type", "ReLU"}},
              {{"type", "Dense"}, {"units", 256}},
              {{"type", "ReLU"}},
              {{"type", "Dense"}, {"units", 10}}}}};
  }
  if (name == "cnn") {
    // "valid" convolutions: 28 -> 24 -> pool 12 -> 8 -> pool 4, so Flatten gives 64*4*4.
    return {{"name", "cnn"},
            {"input_shape", {1, 28, 28}},
            {"layers",
             {{{"type", "Conv2D"}, {"filters", 32}, {"kernel_size", 5}, {"padding", "valid"}},
              {{"type", "ReLU"}},
              {{"type", "MaxPool2D"}, {"pool_size", 2}},
              {{"type", "Conv2D"}, {"filters", 64}, {"kernel_size", 5}, {"padding", "valid"}},
              {{"type", "ReLU"}},
              {{"type", "MaxPool2D"}, {"pool_size", 2}},
              {{"type", "Flatten"}},
              {{"type", "Dense"}, {"units", 128}},
              {{"type", "ReLU"}},
              {{"type", "Dense"}, {"units", 10}}}}};
  }
  if (name == "resnet20") return resnet20();
  if (name == "xception") return xception();
  LOCKSTEP_THROW("builtin_spec: unknown model \"" << name
                                                  << "\"; expected mlp, cnn, resnet20 or xception");
}

const std::vector<std::string>& builtin_model_names() {
  static const std::vector<std::string> kNames = {"mlp", "cnn", "resnet20", "xception"};
  return kNames;
}

}  // namespace lockstep::nn
