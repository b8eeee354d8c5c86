// A self-contained float64 attention for the problem forms of ABI version 2 (grouped-query
// heads, sliding window, KV cache), written straight from backend_abi.h's "Positions" paragraph
// as plain loops, with its own data: the blas and highway tests check their kernels against it
// independently of the harness's reference and data drawing.
#pragma once

#include <attnbench/attnbench.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace attnbench::test {

// One problem's inputs: x, the weights and the cache, drawn uniform so that the scores spread
// (weights ~ 1/sqrt(d_in), the cache about as large as projected keys).
struct KvCase {
  ab_problem p{};
  std::vector<float> x, w_q, w_k, w_v, b_q, b_k, b_v, w_o, b_o, k_cache, v_cache;

  ab_weights Weights() const {
    auto ptr = [](const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); };
    return ab_weights{ptr(w_q), ptr(w_k), ptr(w_v), ptr(b_q), ptr(b_k), ptr(b_v), ptr(w_o), ptr(b_o),
                      ptr(k_cache), ptr(v_cache)};
  }
};

inline KvCase MakeKvCase(const ab_problem& p, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto draw = [&](size_t n, double scale) {
    std::uniform_real_distribution<float> u(static_cast<float>(-scale), static_cast<float>(scale));
    std::vector<float> v(n);
    for (float& f : v) f = u(rng);
    return v;
  };
  KvCase c;
  c.p = p;
  const size_t din = p.d_in, dout = p.d_out, kvd = KvDim(p);
  const double ws = 1.0 / std::sqrt(static_cast<double>(din));
  c.x = draw(InputElems(p), 1.0);
  if (p.qkv_proj) {
    c.w_q = draw(din * dout, ws), c.w_k = draw(din * kvd, ws), c.w_v = draw(din * kvd, ws);
    if (p.qkv_bias) c.b_q = draw(dout, 0.3), c.b_k = draw(kvd, 0.3), c.b_v = draw(kvd, 0.3);
  }
  if (p.out_proj) c.w_o = draw(dout * dout, 1.0 / std::sqrt(static_cast<double>(dout))), c.b_o = draw(dout, 0.3);
  if (p.past_len > 0) {
    const double cs = p.qkv_proj ? 0.6 : 1.0;  // simplified keys are rows of x
    c.k_cache = draw(CacheElems(p), cs), c.v_cache = draw(CacheElems(p), cs);
  }
  return c;
}

// out [B, T, d_out] in float64.
inline std::vector<double> KvReference(const KvCase& c) {
  const ab_problem& p = c.p;
  const int B = p.batch, T = p.seq_len, din = p.d_in, dout = p.d_out, H = p.heads, KVH = p.kv_heads;
  const int hd = HeadDim(p), kvd = KvDim(p), P = p.past_len;
  const double scale = ScoreScale(p);
  const uint64_t threshold = ab_dropout_threshold(p.dropout_p);
  const double keep = 1.0 / (1.0 - static_cast<double>(p.dropout_p));
  // y[T, n] = x_b . w (+ bias); without weights, x itself.
  auto project = [&](int b, const std::vector<float>& w, const std::vector<float>& bias, int n) {
    std::vector<double> y(static_cast<size_t>(T) * n);
    for (int t = 0; t < T; ++t)
      for (int col = 0; col < n; ++col) {
        const float* xr = c.x.data() + (static_cast<size_t>(b) * T + t) * din;
        double acc = bias.empty() ? 0.0 : bias[col];
        for (int k = 0; k < din; ++k) acc += (w.empty() ? (k == col) : static_cast<double>(w[static_cast<size_t>(k) * n + col])) * xr[k];
        y[static_cast<size_t>(t) * n + col] = acc;
      }
    return y;
  };
  std::vector<double> out(OutputElems(p));
  for (int b = 0; b < B; ++b) {
    const std::vector<double> q = project(b, c.w_q, c.b_q, dout);
    const std::vector<double> k = project(b, c.w_k, c.b_k, kvd);
    const std::vector<double> v = project(b, c.w_v, c.b_v, kvd);
    std::vector<double> ctx(static_cast<size_t>(T) * dout);
    for (int h = 0; h < H; ++h) {
      const int g = h / (H / KVH);  // written out, not KvHeadOf: the test checks the mapping
      // key / value j (absolute) of KV head g: the cache's P rows, then the new rows
      auto key = [&](int j, int dd) {
        return j < P ? static_cast<double>(c.k_cache[((static_cast<size_t>(b) * KVH + g) * P + j) * hd + dd])
                     : k[static_cast<size_t>(j - P) * kvd + g * hd + dd];
      };
      auto value = [&](int j, int dd) {
        return j < P ? static_cast<double>(c.v_cache[((static_cast<size_t>(b) * KVH + g) * P + j) * hd + dd])
                     : v[static_cast<size_t>(j - P) * kvd + g * hd + dd];
      };
      for (int t = 0; t < T; ++t) {
        const int i = P + t;
        std::vector<double> w(P + T, 0.0);
        std::vector<bool> seen(P + T, false);
        double m = -INFINITY;
        for (int j = 0; j < P + T; ++j) {
          seen[j] = !p.causal || (j <= i && (p.window == 0 || j > i - p.window));
          if (!seen[j]) continue;
          double s = 0.0;
          for (int dd = 0; dd < hd; ++dd) s += q[static_cast<size_t>(t) * dout + h * hd + dd] * key(j, dd);
          w[j] = s * scale;
          m = std::max(m, w[j]);
        }
        double sum = 0.0;
        for (int j = 0; j < P + T; ++j)
          if (seen[j]) sum += (w[j] = std::exp(w[j] - m));
        const uint64_t row_key = ab_dropout_row_key(p.dropout_seed, b, h, i);
        for (int j = 0; j < P + T; ++j) {
          if (!seen[j]) continue;
          w[j] /= sum;
          if (p.dropout_p > 0.0f) w[j] = ab_dropout_keep(row_key, j, threshold) ? w[j] * keep : 0.0;
        }
        for (int dd = 0; dd < hd; ++dd) {
          double acc = 0.0;
          for (int j = 0; j < P + T; ++j)
            if (seen[j]) acc += w[j] * value(j, dd);
          ctx[static_cast<size_t>(t) * dout + h * hd + dd] = acc;
        }
      }
    }
    for (int t = 0; t < T; ++t)
      for (int col = 0; col < dout; ++col) {
        double acc = ctx[static_cast<size_t>(t) * dout + col];
        if (p.out_proj) {
          acc = c.b_o[col];
          for (int k = 0; k < dout; ++k) acc += ctx[static_cast<size_t>(t) * dout + k] * c.w_o[static_cast<size_t>(k) * dout + col];
        }
        out[(static_cast<size_t>(b) * T + t) * dout + col] = acc;
      }
  }
  return out;
}

// "" when out matches ref: relative L2 error below 1e-5 and every element within 1e-4 of the
// largest |ref| (float32 sums over a few hundred keys stay near 1e-6); else what differs.
inline std::string CompareKv(const float* out, const std::vector<double>& ref) {
  double err2 = 0.0, ref2 = 0.0, max_ref = 0.0, max_err = 0.0;
  for (size_t n = 0; n < ref.size(); ++n) {
    const double e = std::abs(out[n] - ref[n]);
    if (!(e == e)) return "NaN at " + std::to_string(n);
    err2 += e * e, ref2 += ref[n] * ref[n];
    max_ref = std::max(max_ref, std::abs(ref[n])), max_err = std::max(max_err, e);
  }
  const double rel = std::sqrt(err2 / std::max(ref2, 1e-300));
  if (rel <= 1e-5 && max_err <= 1e-4 * max_ref) return {};
  return "rel_l2 " + std::to_string(rel) + " max_abs " + std::to_string(max_err) + " (max |ref| " +
         std::to_string(max_ref) + ")";
}

// The grid both tests run: heads 6 with kv_heads 1, 2, 3, 6; T 1, 3, 17, 65; past_len 0, 1, 5,
// 300; window 0, 1, 4, 16; head_dim 3, 5, 17 (no multiple of a vector); every variant, dropout and
// bias on and off, 1 and 2 threads, varied across the list so each shows up with the others.
inline std::vector<ab_problem> KvProblems() {
  std::vector<ab_problem> out;
  int n = 0;
  for (int kv : {1, 2, 3, 6})
    for (int T : {1, 3, 17, 65})
      for (int P : {0, 1, 5, 300}) {
        const Variant v = kv != 6 ? (n % 2 ? Variant::kMha : Variant::kCausal)
                                  : kAllVariants[n % 4];  // simplified needs kv_heads == heads
        const int hd = n % 3 == 0 ? 3 : (n % 3 == 1 ? 5 : 17);
        const int d_out = 6 * hd;
        const int d_in = v == Variant::kSimplified ? d_out : 24 + 16 * (n % 2);
        ab_problem p = MakeProblem(v, 1 + n % 2 * (T < 20), T, d_in, d_out, 6);
        p.kv_heads = kv;
        p.past_len = P;
        if (p.causal) p.window = (n / 2) % 4 == 0 ? 0 : (n / 2) % 4 == 1 ? 1 : (n / 2) % 4 == 2 ? 4 : 16;
        p.dropout_p = n % 3 == 1 ? 0.3f : 0.0f;
        p.dropout_seed = 11 + n;
        p.qkv_bias = p.qkv_proj && n % 4 != 3;
        p.threads = 1 + (n / 3) % 2;
        out.push_back(p);
        ++n;
      }
  return out;
}

}  // namespace attnbench::test
