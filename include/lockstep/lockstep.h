// Lockstep in one include: the runtime, models, optimizers, data, files, the
// data-parallel engine and the Trainer.
#pragma once

#include "lockstep/base/device.h"
#include "lockstep/base/error.h"
#include "lockstep/comm/communicator.h"
#include "lockstep/data/dataset.h"
#include "lockstep/data/idx_dataset.h"
#include "lockstep/data/npy.h"
#include "lockstep/data/synthetic.h"
#include "lockstep/io/checkpoint.h"
#include "lockstep/io/model_weights.h"
#include "lockstep/nn/layers.h"
#include "lockstep/nn/loss.h"
#include "lockstep/nn/model.h"
#include "lockstep/optim/optimizer.h"
#include "lockstep/parallel/data_parallel.h"
#include "lockstep/runtime/runtime.h"
#include "lockstep/tensor/tensor.h"
#include "lockstep/train/trainer.h"
