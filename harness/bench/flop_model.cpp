#include "flop_model.h"

namespace attnbench::bench {

double QueryKeyPairs(const ab_problem& p) {
  const double t = p.seq_len;
  return p.causal ? t * (t + 1) / 2 : t * t;
}

FlopCount CountFlops(const ab_problem& p) {
  // In double: B T d_in d_out reaches 2^80 at the largest accepted sizes.
  const double B = p.batch, T = p.seq_len, din = p.d_in, dout = p.d_out, H = p.heads,
               hd = HeadDim(p);
  FlopCount f;
  if (p.qkv_proj) f.projections = 3 * 2 * B * T * din * dout;
  const double pairs = QueryKeyPairs(p);
  f.scores = 2 * B * H * pairs * hd;
  f.weighted_sum = 2 * B * H * pairs * hd;
  if (p.out_proj) f.out_projection = 2 * B * T * dout * dout;
  return f;
}

ByteCount CountBytes(const ab_problem& p) {
  const double B = p.batch, T = p.seq_len, din = p.d_in, dout = p.d_out, H = p.heads, f = sizeof(float);
  ByteCount b;
  b.input = B * T * din * f;
  if (p.qkv_proj) b.weights += 3 * din * dout * f;
  if (p.qkv_proj && p.qkv_bias) b.weights += 3 * dout * f;
  if (p.out_proj) b.weights += (dout * dout + dout) * f;
  b.output = B * T * dout * f;
  b.score_matrices = 4 * B * H * QueryKeyPairs(p) * f;
  return b;
}

double ArithmeticIntensity(const ab_problem& p) {
  const double bytes = CountBytes(p).minimum();
  return bytes > 0 ? CountFlops(p).total() / bytes : 0;
}

}  // namespace attnbench::bench
