// Philox4x32-10, the counter-based generator of Random123 (Salmon et al., SC'11).
// A random word is a pure function of (key, counter): no state, so a value depends only on
// what it is for (seed, step, sample id, element), never on which rank or thread draws it.
// Header-only and marked host/device so the CUDA kernels draw the very same numbers.
#pragma once

#include <array>
#include <cstdint>

#if defined(__CUDACC__)
#define LOCKSTEP_HOST_DEVICE __host__ __device__
#else
#define LOCKSTEP_HOST_DEVICE
#endif

namespace lockstep::philox {

struct Counter {
  uint32_t w[4];
};
struct Key {
  uint32_t w[2];
};

LOCKSTEP_HOST_DEVICE inline void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t product = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(product >> 32);
  lo = static_cast<uint32_t>(product);
}

// Ten rounds of Philox4x32 on `counter` under `key`.
LOCKSTEP_HOST_DEVICE inline Counter philox4x32_10(Counter counter, Key key) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kMul0, counter.w[0], hi0, lo0);
    mulhilo(kMul1, counter.w[2], hi1, lo1);
    counter = Counter{{hi1 ^ counter.w[1] ^ key.w[0], lo1, hi0 ^ counter.w[3] ^ key.w[1], lo0}};
    key.w[0] += kWeyl0;
    key.w[1] += kWeyl1;
  }
  return counter;
}

// A float in [0, 1) from the top 24 bits of a word (every value exactly representable).
LOCKSTEP_HOST_DEVICE inline float to_unit_float(uint32_t word) {
  return static_cast<float>(word >> 8) * (1.0f / 16777216.0f);
}

// The uniform number for element `element` of sample `sample` at training step `step`,
// for the random stream `stream` (one per layer that draws noise) of run seed `seed`.
LOCKSTEP_HOST_DEVICE inline float sample_uniform(uint64_t seed, uint32_t stream, uint64_t step,
                                                 uint64_t sample, uint32_t element) {
  const Key key{
      {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32) ^ (stream * 0x85EBCA6Bu)}};
  const Counter counter{
      {element, static_cast<uint32_t>(sample), static_cast<uint32_t>(step),
       (static_cast<uint32_t>(sample >> 32) << 16) ^ static_cast<uint32_t>(step >> 32)}};
  return to_unit_float(philox4x32_10(counter, key).w[0]);
}

}  // namespace lockstep::philox
