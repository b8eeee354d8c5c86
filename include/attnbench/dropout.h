/* The dropout mask every backend shares. Pure C, header-only.
 *
 * Dropout is inverted dropout on the attention weights after the softmax (and after the causal
 * mask): a kept weight is multiplied by 1/(1-p), a dropped one becomes 0. Whether weight (query i,
 * key j) of head h in batch b is kept is a pure function of (seed, b, h, i, j, p) -- no RNG state,
 * so every backend, in any order and on any thread, drops exactly the same weights:
 *
 *   mix(z)         = SplitMix64 finaliser of z + 0x9E3779B97F4A7C15 (below)
 *   row_key        = mix(mix(mix(seed ^ b) ^ h) ^ i)
 *   u              = mix(row_key ^ j) >> 32              (uniform in [0, 2^32))
 *   threshold(p)   = (uint64) floor(p * 2^32)
 *   kept           = u >= threshold(p)
 *
 * b, h, i, j are zero-based and widened to uint64 before the xor. A kernel hoists row_key out of
 * its inner loop, so the per-element cost is one mix. scripts/reference.py has the same function
 * in numpy.
 */
#ifndef ATTNBENCH_DROPOUT_H_
#define ATTNBENCH_DROPOUT_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline uint64_t ab_mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static inline uint64_t ab_dropout_row_key(uint64_t seed, uint64_t b, uint64_t h, uint64_t i) {
  return ab_mix64(ab_mix64(ab_mix64(seed ^ b) ^ h) ^ i);
}

/* p in [0, 1). p == 0 gives threshold 0: everything kept. */
static inline uint64_t ab_dropout_threshold(float p) {
  return (uint64_t)((double)p * 4294967296.0);
}

static inline int ab_dropout_keep(uint64_t row_key, uint64_t j, uint64_t threshold) {
  return (ab_mix64(row_key ^ j) >> 32) >= threshold;
}

#ifdef __cplusplus
}
#endif

#endif /* ATTNBENCH_DROPOUT_H_ */
