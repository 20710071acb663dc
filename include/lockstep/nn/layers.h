// Every layer kind of Lockstep in one include.
#pragma once

#include "lockstep/nn/activation.h"
#include "lockstep/nn/batch_norm.h"
#include "lockstep/nn/conv2d.h"
#include "lockstep/nn/conv_window.h"
#include "lockstep/nn/dense.h"
#include "lockstep/nn/depthwise_conv2d.h"
#include "lockstep/nn/dropout.h"
#include "lockstep/nn/flatten.h"
#include "lockstep/nn/global_pooling.h"
#include "lockstep/nn/layer.h"
#include "lockstep/nn/layer_norm.h"
#include "lockstep/nn/merge.h"
#include "lockstep/nn/pooling.h"
#include "lockstep/nn/separable_conv2d.h"
