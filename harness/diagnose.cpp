#include "diagnose.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "backend_handle.h"
#include "validate.h"

namespace attnbench {

const std::vector<MistakeInfo>& MistakeCatalogue() {
  using M = Mistake;
  static const std::vector<MistakeInfo> c = {
      {M::kNoScale, "no_scale", "the scores not scaled (1/sqrt(head_dim) missing)"},
      {M::kScaleDOut, "scale_dout", "the scores scaled by 1/sqrt(d_out) instead of 1/sqrt(head_dim)"},
      {M::kScaleHeadDim, "scale_hd", "the scores scaled by 1/head_dim instead of 1/sqrt(head_dim)"},
      {M::kMaskInverted, "mask_inverted", "the causal mask inverted (query i sees keys j >= i)"},
      {M::kMaskOffByOne, "mask_lt", "the causal mask off by one (query i sees keys j < i, not its own)"},
      {M::kMaskLeak, "mask_leak", "the causal mask leaking one future key (query i sees j <= i+1)"},
      {M::kSoftmaxQueries, "softmax_axis", "the softmax taken over queries instead of keys"},
      {M::kHeadsSwapped, "heads_swapped", "heads 0 and 1 swapped in the concatenation"},
      {M::kHeadsInterleaved, "heads_interleaved",
       "the heads interleaved (head h taking columns h, h+H, ... instead of a block of head_dim)"},
      {M::kDropoutUnscaled, "dropout_unscaled", "the kept dropout weights not rescaled by 1/(1-p)"},
      {M::kDropoutOtherSeed, "dropout_seed", "the dropout mask of another seed (seed+1)"},
      {M::kDropoutBeforeSoftmax, "dropout_before_softmax", "dropout applied to the scores before the softmax"},
      {M::kDropoutMissing, "dropout_missing", "dropout not applied"},
      {M::kBiasMissing, "bias_missing", "the Q/K/V bias missing"},
      {M::kOutProjMissing, "out_proj_missing", "the output projection missing"},
      {M::kQkvTransposed, "weights_transposed", "the Q/K/V weights transposed (X.W^T instead of X.W)"},
      {M::kOutTransposed, "out_weights_transposed", "the output projection transposed (ctx.W_o^T instead of ctx.W_o)"},
      {M::kKvSwapped, "kv_swapped", "K and V swapped (K from W_v, V from W_k)"},
      {M::kWindowOffByOne, "window_off_by_one",
       "the sliding window off by one (query i sees keys j >= i - W, W + 1 of them)"},
      {M::kKvMap, "kv_map", "the KV heads mapped as h % kv_heads instead of h / (heads / kv_heads)"},
      {M::kCacheOffset, "cache_offset",
       "the cache offset ignored in the causal mask (new token t sees keys j <= t, not j <= past_len + t)"},
  };
  return c;
}

bool MistakeApplies(Mistake m, const ab_problem& p) {
  using M = Mistake;
  const int hd = HeadDim(p);
  switch (m) {
    case M::kNone: return true;
    case M::kNoScale: return p.qkv_proj && hd > 1;
    case M::kScaleDOut: return p.qkv_proj && p.heads > 1;
    case M::kScaleHeadDim: return p.qkv_proj && hd > 1;
    case M::kMaskInverted:
    case M::kMaskOffByOne:
    case M::kMaskLeak: return p.causal && p.seq_len > 1;
    case M::kSoftmaxQueries: return p.seq_len > 1;
    case M::kHeadsSwapped: return p.heads > 1;
    case M::kHeadsInterleaved: return p.heads > 1 && hd > 1;
    case M::kDropoutUnscaled:
    case M::kDropoutOtherSeed:
    case M::kDropoutBeforeSoftmax:
    case M::kDropoutMissing: return p.dropout_p > 0.0f;
    case M::kBiasMissing: return p.qkv_bias != 0;
    case M::kOutProjMissing:
    case M::kOutTransposed: return p.out_proj != 0;
    case M::kQkvTransposed: return p.qkv_proj && p.d_in == p.d_out && p.kv_heads == p.heads;
    case M::kKvSwapped: return p.qkv_proj != 0;
    // Some query must have a key at i - W: the last one, i = past_len + T - 1.
    case M::kWindowOffByOne: return p.causal && p.window > 0 && p.past_len + p.seq_len > p.window;
    case M::kKvMap: return p.kv_heads > 1 && p.kv_heads < p.heads;
    case M::kCacheOffset: return p.causal && p.past_len > 0;
  }
  return false;
}

namespace {

// Y [T, n] = X [T, k] . W (+ bias), W [k, n] row-major; transposed: Y = X . W^T (k = n).
std::vector<double> Project(const float* x, const float* w, const float* bias, int T, int k, int n, bool transposed) {
  std::vector<double> y(static_cast<size_t>(T) * n);
  for (int t = 0; t < T; ++t)
    for (int c = 0; c < n; ++c) {
      double acc = bias ? bias[c] : 0.0;
      for (int i = 0; i < k; ++i)
        acc += static_cast<double>(x[static_cast<size_t>(t) * k + i]) *
               (transposed ? w[static_cast<size_t>(c) * k + i] : w[static_cast<size_t>(i) * n + c]);
      y[static_cast<size_t>(t) * n + c] = acc;
    }
  return y;
}

// The column of element d of head h among `heads` heads (the interleaving mistake reads and
// writes h + d*heads).
int HeadColumn(Mistake m, int h, int d, int heads, int hd) { return m == Mistake::kHeadsInterleaved ? d * heads + h : h * hd + d; }

// Whether new token t (absolute position i = past_len + t) sees key j (absolute, the cache's
// rows first), with the mistake made. The correct rule is [KeyBegin, KeyEnd) of problem.hpp.
bool Visible(Mistake m, const ab_problem& p, int t, int64_t j) {
  using M = Mistake;
  if (!p.causal) return true;
  const int64_t i = m == M::kCacheOffset ? t : static_cast<int64_t>(p.past_len) + t;
  if (p.window > 0 && j <= i - p.window - (m == M::kWindowOffByOne ? 1 : 0)) return false;
  if (m == M::kMaskInverted) return j >= i;
  if (m == M::kMaskOffByOne) return j < i;
  if (m == M::kMaskLeak) return j <= i + 1;
  return j <= i;
}

// Softmax of each row of s [T, N] (or, for kSoftmaxQueries, each column) over its visible
// entries (-inf excluded); a line with none visible becomes 0.
void Softmax(std::vector<double>& s, int T, int N, bool over_columns) {
  const double ninf = -std::numeric_limits<double>::infinity();
  const int lines = over_columns ? N : T, len = over_columns ? T : N;
  for (int a = 0; a < lines; ++a) {
    auto at = [&](int k) -> double& { return over_columns ? s[static_cast<size_t>(k) * N + a] : s[static_cast<size_t>(a) * N + k]; };
    double m = ninf, sum = 0.0;
    for (int k = 0; k < len; ++k) m = std::max(m, at(k));
    for (int k = 0; k < len; ++k) sum += (at(k) = m == ninf ? 0.0 : std::exp(at(k) - m));
    for (int k = 0; k < len; ++k) at(k) = sum > 0.0 ? at(k) / sum : 0.0;
  }
}

// K or V of batch b over all N = past_len + T keys [N, kv_dim]: the cache's rows (from
// [B, kv_heads, P, head_dim]) followed by the T new ones.
std::vector<double> WithCache(const ab_problem& p, const AlignedBuffer<float>& cache, int b, std::vector<double> fresh) {
  const int P = p.past_len, hd = HeadDim(p), kv = KvDim(p);
  std::vector<double> all(static_cast<size_t>(P) * kv);
  for (int g = 0; g < p.kv_heads && P > 0; ++g)
    for (int j = 0; j < P; ++j)
      for (int d = 0; d < hd; ++d)
        all[static_cast<size_t>(j) * kv + g * hd + d] = cache[((static_cast<size_t>(b) * p.kv_heads + g) * P + j) * hd + d];
  all.insert(all.end(), fresh.begin(), fresh.end());
  return all;
}

}  // namespace

std::vector<double> ComputeWithMistake(const ProblemData& data, Mistake m) {
  using M = Mistake;
  const ab_problem& p = data.problem;
  const int T = p.seq_len, P = p.past_len, N = P + T, din = p.d_in, dout = p.d_out, H = p.heads, hd = HeadDim(p);
  const int kvh = p.kv_heads, kv = KvDim(p);
  double scale = ScoreScale(p);
  if (m == M::kNoScale) scale = 1.0;
  if (m == M::kScaleDOut) scale = 1.0 / std::sqrt(static_cast<double>(dout));
  if (m == M::kScaleHeadDim && p.qkv_proj) scale = 1.0 / hd;
  const double p_drop = m == M::kDropoutMissing ? 0.0 : p.dropout_p;
  const double keep_scale = m == M::kDropoutUnscaled ? 1.0 : 1.0 / (1.0 - p_drop);
  const uint64_t seed = p.dropout_seed + (m == M::kDropoutOtherSeed ? 1 : 0);
  const uint64_t threshold = ab_dropout_threshold(p.dropout_p);
  const double ninf = -std::numeric_limits<double>::infinity();
  const bool transposed = m == M::kQkvTransposed;
  const bool bias = p.qkv_bias && m != M::kBiasMissing;
  auto b_of = [&](const AlignedBuffer<float>& b) { return bias ? b.data() : nullptr; };
  auto kv_head_of = [&](int h) { return m == M::kKvMap ? h % kvh : KvHeadOf(p, h); };

  std::vector<double> out(static_cast<size_t>(p.batch) * T * dout);
  std::vector<double> s(static_cast<size_t>(T) * N), ctx(static_cast<size_t>(T) * dout);
  for (int b = 0; b < p.batch; ++b) {
    const float* xb = data.x.data() + static_cast<size_t>(b) * T * din;
    std::vector<double> q, k, v;
    if (p.qkv_proj) {
      q = Project(xb, data.w_q.data(), b_of(data.b_q), T, din, dout, transposed);
      k = Project(xb, data.w_k.data(), b_of(data.b_k), T, din, kv, transposed);
      v = Project(xb, data.w_v.data(), b_of(data.b_v), T, din, kv, transposed);
      if (m == M::kKvSwapped) std::swap(k, v);
    } else {
      q.assign(xb, xb + static_cast<size_t>(T) * din);
      k = v = q;
    }
    k = WithCache(p, data.k_cache, b, std::move(k));
    v = WithCache(p, data.v_cache, b, std::move(v));
    for (int h = 0; h < H; ++h) {
      const int g = kv_head_of(h);
      for (int t = 0; t < T; ++t)
        for (int j = 0; j < N; ++j) {
          double acc = 0.0;
          for (int d = 0; d < hd; ++d)
            acc += q[static_cast<size_t>(t) * dout + HeadColumn(m, h, d, H, hd)] *
                   k[static_cast<size_t>(j) * kv + HeadColumn(m, g, d, kvh, hd)];
          s[static_cast<size_t>(t) * N + j] = Visible(m, p, t, j) ? acc * scale : ninf;
        }
      // Keyed by absolute positions (query P + t, key j), as the reference does.
      auto drop = [&](bool rescale_masked_as_zero) {
        for (int t = 0; t < T; ++t) {
          const uint64_t key = ab_dropout_row_key(seed, b, h, static_cast<uint64_t>(P) + t);
          for (int j = 0; j < N; ++j) {
            double& e = s[static_cast<size_t>(t) * N + j];
            if (rescale_masked_as_zero && e == ninf) continue;  // a masked score stays masked
            e = ab_dropout_keep(key, j, threshold) ? e * keep_scale : 0.0;
          }
        }
      };
      if (p_drop > 0.0 && m == M::kDropoutBeforeSoftmax) drop(true);
      Softmax(s, T, N, m == M::kSoftmaxQueries);
      if (p_drop > 0.0 && m != M::kDropoutBeforeSoftmax) drop(false);
      const int dst = m == M::kHeadsSwapped && h < 2 ? 1 - h : h;
      for (int t = 0; t < T; ++t)
        for (int d = 0; d < hd; ++d) {
          const int col = HeadColumn(m, g, d, kvh, hd);
          double acc = 0.0;
          for (int j = 0; j < N; ++j) acc += s[static_cast<size_t>(t) * N + j] * v[static_cast<size_t>(j) * kv + col];
          ctx[static_cast<size_t>(t) * dout + HeadColumn(m, dst, d, H, hd)] = acc;
        }
    }
    double* ob = out.data() + static_cast<size_t>(b) * T * dout;
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < dout; ++c) {
        double acc = ctx[static_cast<size_t>(t) * dout + c];
        if (p.out_proj && m != M::kOutProjMissing) {
          acc = data.b_o[c];
          for (int i = 0; i < dout; ++i)
            acc += ctx[static_cast<size_t>(t) * dout + i] *
                   (m == M::kOutTransposed ? data.w_o[static_cast<size_t>(c) * dout + i] : data.w_o[static_cast<size_t>(i) * dout + c]);
        }
        ob[static_cast<size_t>(t) * dout + c] = acc;
      }
  }
  return out;
}

nlohmann::json DiagnosisJson(const Diagnosis& d) {
  nlohmann::json j = {{"tried", d.tried}, {"matched", d.matched}, {"message", d.message}};
  if (d.matched) j.update({{"mistake", d.id}, {"rel_err", d.rel_err}});
  return j;
}

namespace {

double RelL2(const float* out, const std::vector<double>& ref) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double e = out[i] - ref[i];
    num += e * e;
    den += ref[i] * ref[i];
  }
  return den > 0.0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace

Diagnosis Diagnose(const ProblemData& data, const float* out, double tol_rel_l2) {
  const ab_problem& p = data.problem;
  Diagnosis d;
  const size_t n = OutputElems(p);
  if (!std::all_of(out, out + n, [](float f) { return std::isfinite(f); })) {
    d.message = "not diagnosed: the output has NaN / Inf or unwritten elements";
    return d;
  }
  const double work = static_cast<double>(p.batch) * p.seq_len * (static_cast<double>(p.past_len) + p.seq_len) * p.d_out;
  if (work > kMaxDiagnoseWork) {
    d.message = "not diagnosed: the problem is too large to re-run the catalogue (use a smaller T or d)";
    return d;
  }
  d.tried = true;
  // The tolerance of validation, with headroom: a mistaken reference computed in float64 is
  // matched by a float32 kernel as closely as the correct one is.
  const double tol = 4.0 * tol_rel_l2;
  double best = INFINITY;
  int tried = 0;
  for (const MistakeInfo& mi : MistakeCatalogue()) {
    if (!MistakeApplies(mi.mistake, p)) continue;
    ++tried;
    const double e = RelL2(out, ComputeWithMistake(data, mi.mistake));
    if (e <= tol && e < best) {
      best = e;
      d.matched = true;
      d.id = mi.id;
      char buf[64];
      std::snprintf(buf, sizeof buf, ": rel. error %.2g", e);
      d.message = std::string("matches the reference with ") + mi.words + buf;
    }
  }
  if (!d.matched)
    d.message = "matches none of the " + std::to_string(tried) + " known mistakes that apply to this problem";
  return d;
}

Diagnosis DiagnoseBackend(const LoadedBackend& backend, const ProblemData& data, double tol_rel_l2) {
  const ab_problem& p = data.problem;
  Diagnosis d;
  if (CallResult s = BackendInstance::Supports(backend, p); !s) {
    d.message = "not diagnosed: " + s.message;
    return d;
  }
  Prepared prepared = BackendInstance::Prepare(backend, p, data.Weights());
  if (!prepared) {
    d.message = "not diagnosed: prepare failed: " + prepared.error;
    return d;
  }
  AlignedBuffer<float> out(OutputElems(p));
  Poison(out.data(), out.size());
  if (CallResult r = prepared->Run(data.x.data(), out.data()); !r) {
    d.message = "not diagnosed: run failed: " + r.message;
    return d;
  }
  return Diagnose(data, out.data(), tol_rel_l2);
}

}  // namespace attnbench
