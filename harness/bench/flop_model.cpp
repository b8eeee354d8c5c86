#include "flop_model.h"

#include <algorithm>

namespace attnbench::bench {

namespace {

// A problem read back from an older summary.csv has no kv_heads (0): it was MHA.
ab_problem WithKvHeads(ab_problem p) {
  if (p.kv_heads <= 0) p.kv_heads = p.heads;
  return p;
}

}  // namespace

double QueryKeyPairs(const ab_problem& p) {
  // Closed forms of sum over t of KeyEnd - KeyBegin (problem.hpp), in double: the sums reach
  // 2^40 per (batch, head) at the largest accepted sizes and a loop over T would be 2^20 steps.
  const double T = p.seq_len, P = p.past_len;
  if (!p.causal) return T * (P + T);
  // Row t sees P + t + 1 keys, capped at W with a window: the first n rows (P + t + 1 <= W) are
  // under the cap, the other T - n see exactly W.
  const double n = p.window > 0 ? std::clamp(static_cast<double>(p.window) - P, 0.0, T) : T;
  return n * P + n * (n + 1) / 2 + (T - n) * p.window;
}

FlopCount CountFlops(const ab_problem& problem) {
  const ab_problem p = WithKvHeads(problem);
  // In double: B T d_in d_out reaches 2^80 at the largest accepted sizes.
  const double B = p.batch, T = p.seq_len, din = p.d_in, dout = p.d_out, H = p.heads,
               hd = HeadDim(p), kv = KvDim(p);
  FlopCount f;
  if (p.qkv_proj) f.projections = 2 * B * T * din * (dout + 2 * kv);
  const double pairs = QueryKeyPairs(p);
  f.scores = 2 * B * H * pairs * hd;
  f.weighted_sum = 2 * B * H * pairs * hd;
  if (p.out_proj) f.out_projection = 2 * B * T * dout * dout;
  return f;
}

ByteCount CountBytes(const ab_problem& problem) {
  const ab_problem p = WithKvHeads(problem);
  const double B = p.batch, T = p.seq_len, din = p.d_in, dout = p.d_out, H = p.heads, kv = KvDim(p),
               f = sizeof(float);
  ByteCount b;
  b.input = B * T * din * f;
  if (p.qkv_proj) b.weights += din * (dout + 2 * kv) * f;
  if (p.qkv_proj && p.qkv_bias) b.weights += (dout + 2 * kv) * f;
  if (p.out_proj) b.weights += (dout * dout + dout) * f;
  b.output = B * T * dout * f;
  b.cache = 2 * static_cast<double>(CacheElems(p)) * f;
  b.score_matrices = 4 * B * H * QueryKeyPairs(p) * f;
  return b;
}

double ArithmeticIntensity(const ab_problem& p) {
  const double bytes = CountBytes(p).minimum();
  return bytes > 0 ? CountFlops(p).total() / bytes : 0;
}

}  // namespace attnbench::bench
