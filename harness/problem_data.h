// The inputs and weights of one problem, drawn at random so that the attention weights have a
// real spread (neither uniform nor one-hot): a check on near-uniform weights cannot tell a
// missing 1/sqrt(head_dim) from a correct kernel.
#pragma once

#include <attnbench/attnbench.h>

#include <cstdint>
#include <vector>

namespace attnbench {

struct ProblemData {
  ab_problem problem{};
  AlignedBuffer<float> x;                 // [B, T, d_in]
  AlignedBuffer<float> w_q, w_k, w_v;     // [d_in, d_out], [d_in, kv_dim] x2; empty without qkv_proj
  AlignedBuffer<float> b_q, b_k, b_v;     // [d_out], [kv_dim] x2; empty without qkv_bias
  AlignedBuffer<float> w_o, b_o;          // [d_out, d_out], [d_out], empty without out_proj
  AlignedBuffer<float> k_cache, v_cache;  // [B, kv_heads, past_len, head_dim]; empty when past_len 0

  ab_weights Weights() const;
};

// Allocates every buffer the problem needs, zero-filled.
ProblemData AllocateProblemData(const ab_problem& p);

// Allocates and fills with random values from `seed` (same seed, same values, on any machine).
//  - with weights: x ~ N(0,1); W_q, W_k ~ N(0, 2/d_in) so scaled scores have std ~2;
//    W_v, W_o ~ N(0, 1/d_in); biases ~ N(0, 0.25).
//  - the KV cache, drawn last (so every other value is the one a problem without a cache gets):
//    with weights, k_cache ~ N(0, 2 (+ 0.25 with bias)) and v_cache ~ N(0, 1 (+ 0.25)), the
//    spread of a projected K / V element, so cached keys score like new ones; simplified: both
//    are the same past rows of x, drawn like x (K = V = X there).
//  - simplified (no weights): x = c (Z A + 0.3 N) with Z [B*T, 4], A [4, d_in] and N standard
//    normal, c^2 = 1/head_dim: rows share a 4-dimensional structure, so a head's x_i . x_j
//    spreads over a few units instead of the diagonal dominating by a factor of head_dim.
ProblemData MakeRandomProblemData(const ab_problem& p, uint64_t seed);

// The weight tensors a problem has (w_q, w_k, w_v, b_q, b_k, b_v, w_o, b_o, k_cache, v_cache as
// it needs them), with their buffers and shapes: the names of the .npy files `run --dump` and `bench --peers`
// write and `run --weights` reads.
struct NamedTensor {
  const char* name;
  AlignedBuffer<float>* buf;
  std::vector<int64_t> shape;
};
std::vector<NamedTensor> WeightTensors(ProblemData& d);

// A small deterministic generator (SplitMix64 + Box-Muller): portable, unlike std::*_distribution.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() { return ab_mix64(state_++); }
  double Uniform() { return (Next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double Normal();

 private:
  uint64_t state_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace attnbench
