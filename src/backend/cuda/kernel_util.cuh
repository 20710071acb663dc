// Shared pieces of the CUDA kernels: launch sizes, 64-bit grid-stride loops, and block
// reductions with a fixed combination order (so sums are bitwise reproducible run to run).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

namespace lockstep::backend::cuda {

constexpr int kThreads = 256;  // threads per block of the elementwise kernels
constexpr int kWarp = 32;
// Enough blocks to fill any current GPU; larger arrays are covered by grid-stride loops.
constexpr int64_t kMaxBlocks = 8192;

// Blocks for n independent items at `threads` per block (n > 0).
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  return static_cast<unsigned>(std::min<int64_t>((n + threads - 1) / threads, kMaxBlocks));
}

// Blocks for n rows handled one block per row, the rest by grid-stride (n > 0).
inline unsigned row_blocks(int64_t rows) {
  return static_cast<unsigned>(std::min<int64_t>(rows, 65535));
}

// Threads for a block that walks `extent` items of one row: a multiple of the warp size,
// at least one warp, at most kThreads.
inline int threads_for_row(int64_t extent) {
  const int64_t rounded = (extent + kWarp - 1) / kWarp * kWarp;
  return static_cast<int>(std::clamp<int64_t>(rounded, kWarp, kThreads));
}

// for (int64_t i = first index of this thread; i < n; i += every thread of the grid)
__device__ inline int64_t grid_first() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline int64_t grid_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// Index and value of a candidate maximum. The larger value wins, and between equal values the
// smaller index, so the result is the first maximum whatever order candidates meet in.
struct ArgMax {
  float value;
  int64_t index;
};

struct SumOp {
  template <typename T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct MaxOp {  // as the CPU's `z > max ? z : max`
  __device__ float operator()(float a, float b) const { return b > a ? b : a; }
};
struct ArgMaxOp {
  __device__ ArgMax operator()(ArgMax a, ArgMax b) const {
    return b.value > a.value || (b.value == a.value && b.index < a.index) ? b : a;
  }
};

__device__ inline float shuffle_down(float v, int offset) {
  return __shfl_down_sync(0xffffffffu, v, offset);
}
__device__ inline double shuffle_down(double v, int offset) {
  return __shfl_down_sync(0xffffffffu, v, offset);
}
__device__ inline unsigned long long shuffle_down(unsigned long long v, int offset) {
  return __shfl_down_sync(0xffffffffu, v, offset);
}
__device__ inline ArgMax shuffle_down(ArgMax v, int offset) {
  return ArgMax{__shfl_down_sync(0xffffffffu, v.value, offset),
                __shfl_down_sync(0xffffffffu, static_cast<long long>(v.index), offset)};
}

// Tree reduction of `valid` lanes' values (lanes [0, valid) of the warp); lane 0 gets the
// result. Every lane of the warp must call it.
template <typename T, typename Op>
__device__ T warp_reduce(T value, int valid, Op op) {
  const int lane = static_cast<int>(threadIdx.x) % kWarp;
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    const T other = shuffle_down(value, offset);
    if (lane + offset < valid) value = op(value, other);
  }
  return value;
}

// Combines one value per thread over the whole block and returns the result to every
// thread. blockDim.x must be a multiple of 32 (at most 1024) and every thread must call it
// (it synchronises the block). The order of combination depends only on blockDim.x.
template <typename T, typename Op>
__device__ T block_reduce(T value, Op op) {
  __shared__ T partial[kWarp];
  const int lane = static_cast<int>(threadIdx.x) % kWarp;
  const int warp = static_cast<int>(threadIdx.x) / kWarp;
  const int warps = static_cast<int>(blockDim.x) / kWarp;
  value = warp_reduce(value, kWarp, op);
  if (lane == 0) partial[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = partial[lane < warps ? lane : 0];
    value = warp_reduce(value, warps, op);
    if (lane == 0) partial[0] = value;
  }
  __syncthreads();
  const T result = partial[0];
  __syncthreads();  // partial may be reused by the next call
  return result;
}

// out[0] = values[0] + ... + values[n-1], one block, fixed order: each thread sums a strided
// slice in order, then the block tree combines the slices. Launch with <<<1, kThreads>>>.
template <typename T>
__global__ void sum_kernel(const T* values, int64_t n, T* out) {
  T sum = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += values[i];
  sum = block_reduce(sum, SumOp{});
  if (threadIdx.x == 0) *out = sum;
}

}  // namespace lockstep::backend::cuda
