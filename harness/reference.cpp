#include "reference.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace attnbench {

std::vector<int32_t> AllRows(int32_t seq_len) {
  std::vector<int32_t> rows(seq_len);
  for (int32_t i = 0; i < seq_len; ++i) rows[i] = i;
  return rows;
}

std::vector<int32_t> SampleRows(int32_t seq_len, int32_t count, uint64_t seed) {
  if (count <= 0 || seq_len <= std::max(count, 64)) return AllRows(seq_len);
  std::vector<int32_t> rows = {0, seq_len - 1};
  Rng rng(seed ^ 0x5A3D1E5ull);
  while (static_cast<int32_t>(rows.size()) < count) {
    const int32_t r = static_cast<int32_t>(rng.Next() % static_cast<uint64_t>(seq_len));
    if (std::find(rows.begin(), rows.end(), r) == rows.end()) rows.push_back(r);
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

namespace {

// y[n] = x[k] . w[k, n] (+ bias), in double.
void ProjectRow(const float* x, const float* w, const float* bias, int k, int n, double* y) {
  for (int c = 0; c < n; ++c) y[c] = bias ? bias[c] : 0.0;
  for (int i = 0; i < k; ++i) {
    const double xi = x[i];
    const float* wi = w + static_cast<size_t>(i) * n;
    for (int c = 0; c < n; ++c) y[c] += xi * wi[c];
  }
}

// n columns of x . w (+ bias), or x itself for simplified attention (no weights, n = d_in).
void ProjectOrCopy(const ab_problem& p, const float* x, const float* w, const float* bias, int n,
                   double* y) {
  if (p.qkv_proj) {
    ProjectRow(x, w, bias, p.d_in, n, y);
  } else {
    for (int c = 0; c < n; ++c) y[c] = x[c];
  }
}

// Batch b's cache rows into k, v [past_len, kv_dim] (absolute key positions 0 .. P-1): the cache
// [B, kv_heads, P, head_dim] holds KV head g's columns of key row j contiguously.
void UnpackCache(const ProblemData& data, int b, double* k, double* v) {
  const ab_problem& p = data.problem;
  const size_t P = p.past_len, hd = HeadDim(p), kv = KvDim(p);
  for (int g = 0; g < p.kv_heads; ++g)
    for (size_t j = 0; j < P; ++j) {
      const size_t at = ((static_cast<size_t>(b) * p.kv_heads + g) * P + j) * hd;
      std::copy(data.k_cache.data() + at, data.k_cache.data() + at + hd, k + j * kv + g * hd);
      std::copy(data.v_cache.data() + at, data.v_cache.data() + at + hd, v + j * kv + g * hd);
    }
}

double Median(std::vector<double> v) {
  if (v.empty()) return -1.0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

}  // namespace

ReferenceResult ComputeReference(const ProblemData& data, const std::vector<int32_t>& rows,
                                 bool keep_weights) {
  const ab_problem& p = data.problem;
  const int T = p.seq_len, P = p.past_len, din = p.d_in, dout = p.d_out, H = p.heads, hd = HeadDim(p);
  const int kv = KvDim(p);
  const size_t N = static_cast<size_t>(P) + T;  // keys: the cache's P rows, then the T new ones
  const size_t R = rows.size();
  const double scale = ScoreScale(p);
  const double keep_scale = 1.0 / (1.0 - static_cast<double>(p.dropout_p));
  const uint64_t threshold = ab_dropout_threshold(p.dropout_p);
  const double ninf = -std::numeric_limits<double>::infinity();

  ReferenceResult res;
  res.rows = rows;
  res.out.assign(static_cast<size_t>(p.batch) * R * dout, 0.0);
  if (keep_weights) {
    res.scores.assign(static_cast<size_t>(p.batch) * H * R * N, 0.0);
    res.weights.assign(res.scores.size(), 0.0);
  }
  // k, v [N, kv_dim] in absolute key positions; q and ctx [R, d_out].
  std::vector<double> k(N * kv), v(k.size()), q(R * dout), ctx(R * dout);
  // Per (b, h, r): entropy and max weight, or NaN when the row sees fewer than 2 keys.
  std::vector<double> entropy(static_cast<size_t>(p.batch) * H * R), max_weight(entropy.size());
  double max_abs_score = 0.0;

  for (int b = 0; b < p.batch; ++b) {
    const float* xb = data.x.data() + static_cast<size_t>(b) * T * din;
    UnpackCache(data, b, k.data(), v.data());
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; ++t) {
      const float* xt = xb + static_cast<size_t>(t) * din;
      ProjectOrCopy(p, xt, data.w_k.data(), data.b_k.data(), kv, &k[(static_cast<size_t>(P) + t) * kv]);
      ProjectOrCopy(p, xt, data.w_v.data(), data.b_v.data(), kv, &v[(static_cast<size_t>(P) + t) * kv]);
    }
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < R; ++r)
      ProjectOrCopy(p, xb + static_cast<size_t>(rows[r]) * din, data.w_q.data(), data.b_q.data(), dout, &q[r * dout]);

#pragma omp parallel for collapse(2) schedule(dynamic) reduction(max : max_abs_score)
    for (int h = 0; h < H; ++h)
      for (size_t r = 0; r < R; ++r) {
        const int t = rows[r];
        const int64_t i = static_cast<int64_t>(P) + t;  // the query's absolute position
        const int64_t begin = KeyBegin(p, t), end = KeyEnd(p, t);
        const int visible = static_cast<int>(end - begin);
        const size_t qo = r * dout + static_cast<size_t>(h) * hd;
        const size_t ko = static_cast<size_t>(KvHeadOf(p, h)) * hd;  // its KV head's columns
        std::vector<double> s(N, ninf);
        double m = ninf;
        for (int64_t j = begin; j < end; ++j) {
          double acc = 0.0;
          for (int d = 0; d < hd; ++d) acc += q[qo + d] * k[static_cast<size_t>(j) * kv + ko + d];
          s[j] = acc * scale;
          m = std::max(m, s[j]);
          max_abs_score = std::max(max_abs_score, std::abs(s[j]));
        }
        const size_t stat = (static_cast<size_t>(b) * H + h) * R + r;
        const size_t kept = stat * N;
        if (keep_weights) std::copy(s.begin(), s.end(), res.scores.begin() + kept);
        double sum = 0.0;
        for (int64_t j = begin; j < end; ++j) sum += (s[j] = std::exp(s[j] - m));
        double ent = 0.0, wmax = 0.0;
        for (int64_t j = begin; j < end; ++j) {
          s[j] /= sum;
          if (s[j] > 0.0) ent -= s[j] * std::log(s[j]);
          wmax = std::max(wmax, s[j]);
        }
        for (size_t j = 0; j < N; ++j)
          if (static_cast<int64_t>(j) < begin || static_cast<int64_t>(j) >= end) s[j] = 0.0;
        entropy[stat] = visible >= 2 ? ent / std::log(static_cast<double>(visible)) : std::nan("");
        max_weight[stat] = visible >= 2 ? wmax : std::nan("");
        if (p.dropout_p > 0.0f) {
          // Keyed by absolute positions: query i, key j (with P = 0 exactly the chapter-3 mask).
          const uint64_t key = ab_dropout_row_key(p.dropout_seed, b, h, i);
          for (int64_t j = begin; j < end; ++j)
            s[j] = ab_dropout_keep(key, j, threshold) ? s[j] * keep_scale : 0.0;
        }
        if (keep_weights) std::copy(s.begin(), s.end(), res.weights.begin() + kept);
        for (int d = 0; d < hd; ++d) {
          double acc = 0.0;
          for (int64_t j = begin; j < end; ++j) acc += s[j] * v[static_cast<size_t>(j) * kv + ko + d];
          ctx[qo + d] = acc;
        }
      }

    double* ob = res.out.data() + static_cast<size_t>(b) * R * dout;
    for (size_t r = 0; r < R; ++r) {
      if (p.out_proj) {
        for (int c = 0; c < dout; ++c) ob[r * dout + c] = data.b_o[c];
        for (int i = 0; i < dout; ++i) {
          const double ci = ctx[r * dout + i];
          for (int c = 0; c < dout; ++c) ob[r * dout + c] += ci * data.w_o[static_cast<size_t>(i) * dout + c];
        }
      } else {
        std::copy(ctx.begin() + r * dout, ctx.begin() + (r + 1) * dout, ob + r * dout);
      }
    }
  }
  res.max_abs_score = max_abs_score;
  std::vector<double> ents, maxes;
  for (size_t i = 0; i < entropy.size(); ++i)
    if (!std::isnan(entropy[i])) {
      ents.push_back(entropy[i]);
      maxes.push_back(max_weight[i]);
    }
  res.median_entropy = Median(ents);
  res.median_max_weight = Median(maxes);
  return res;
}

double VisibleScores(const ab_problem& p) {
  double keys = 0.0;
  for (int t = 0; t < p.seq_len; ++t) keys += static_cast<double>(KeyEnd(p, t) - KeyBegin(p, t));
  return keys * p.batch * p.heads;
}

namespace {

std::vector<double> ToDouble(const AlignedBuffer<float>& f) { return {f.data(), f.data() + f.size()}; }

// y [m, n] = x [m, k] . w [k, n] (+ bias per column), row-major, in double.
void ProjectGemm(const double* x, const std::vector<double>& w, const AlignedBuffer<float>& bias, int m, int k,
                 int n, double* y, int ldy) {
  for (int r = 0; r < m; ++r)
    for (int c = 0; c < n; ++c) y[static_cast<size_t>(r) * ldy + c] = bias.empty() ? 0.0 : bias.data()[c];
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, x, k, w.data(), n, 1.0, y, ldy);
}

}  // namespace

std::vector<double> ComputeAllRowsGemm(const ProblemData& data, double* max_abs_score) {
  const ab_problem& p = data.problem;
  const int T = p.seq_len, P = p.past_len, din = p.d_in, dout = p.d_out, H = p.heads, hd = HeadDim(p);
  const int kv = KvDim(p);
  const int N = P + T;
  const double scale = ScoreScale(p);
  const double keep_scale = 1.0 / (1.0 - static_cast<double>(p.dropout_p));
  const uint64_t threshold = ab_dropout_threshold(p.dropout_p);
  constexpr int kBlock = 128;  // query rows per score block: [128, keys] doubles

  std::vector<double> out(static_cast<size_t>(p.batch) * T * dout);
  std::vector<double> wq, wk, wv, wo;
  if (p.qkv_proj) wq = ToDouble(data.w_q), wk = ToDouble(data.w_k), wv = ToDouble(data.w_v);
  if (p.out_proj) wo = ToDouble(data.w_o);
  // q [T, d_out]; k, v [N, kv_dim] in absolute key positions (the cache's rows first); ctx [T, d_out].
  std::vector<double> x(static_cast<size_t>(T) * din), q(static_cast<size_t>(T) * dout), k(static_cast<size_t>(N) * kv),
      v(k.size()), ctx(q.size()), s(static_cast<size_t>(kBlock) * N);
  double max_score = 0.0;

  for (int b = 0; b < p.batch; ++b) {
    const float* xb = data.x.data() + static_cast<size_t>(b) * T * din;
    std::copy(xb, xb + x.size(), x.begin());
    UnpackCache(data, b, k.data(), v.data());
    double* k_new = &k[static_cast<size_t>(P) * kv];
    double* v_new = &v[static_cast<size_t>(P) * kv];
    if (p.qkv_proj) {
      ProjectGemm(x.data(), wq, data.b_q, T, din, dout, q.data(), dout);
      ProjectGemm(x.data(), wk, data.b_k, T, din, kv, k_new, kv);
      ProjectGemm(x.data(), wv, data.b_v, T, din, kv, v_new, kv);
    } else {  // simplified: q = k = v = x (d_in = d_out = kv_dim)
      std::copy(x.begin(), x.end(), q.begin());
      std::copy(x.begin(), x.end(), k_new);
      std::copy(x.begin(), x.end(), v_new);
    }

    for (int h = 0; h < H; ++h) {
      const size_t ko = static_cast<size_t>(KvHeadOf(p, h)) * hd;
      for (int t0 = 0; t0 < T; t0 += kBlock) {
        const int rows = std::min(kBlock, T - t0);
        // Keys any row of the block sees: [KeyBegin(t0), KeyEnd(last)), both non-decreasing in t.
        const int64_t kb = KeyBegin(p, t0), ke = KeyEnd(p, t0 + rows - 1);
        const int nk = static_cast<int>(ke - kb);
        if (nk <= 0) continue;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, nk, hd, scale,
                    &q[static_cast<size_t>(t0) * dout + h * hd], dout, &k[static_cast<size_t>(kb) * kv + ko], kv, 0.0,
                    s.data(), nk);
#pragma omp parallel for schedule(static) reduction(max : max_score)
        for (int r = 0; r < rows; ++r) {
          const int t = t0 + r;
          const int64_t begin = KeyBegin(p, t) - kb, end = KeyEnd(p, t) - kb;
          double* sr = &s[static_cast<size_t>(r) * nk];
          double m = -std::numeric_limits<double>::infinity();
          for (int64_t j = begin; j < end; ++j) m = std::max(m, sr[j]);
          max_score = std::max({max_score, std::abs(m), std::abs(*std::min_element(sr + begin, sr + end))});
          double sum = 0.0;
          for (int64_t j = begin; j < end; ++j) sum += (sr[j] = std::exp(sr[j] - m));
          for (int64_t j = 0; j < nk; ++j) sr[j] = j >= begin && j < end ? sr[j] / sum : 0.0;
          if (p.dropout_p > 0.0f) {
            const uint64_t key = ab_dropout_row_key(p.dropout_seed, b, h, static_cast<uint64_t>(P) + t);
            for (int64_t j = begin; j < end; ++j)
              sr[j] = ab_dropout_keep(key, kb + j, threshold) ? sr[j] * keep_scale : 0.0;
          }
        }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, nk, 1.0, s.data(), nk,
                    &v[static_cast<size_t>(kb) * kv + ko], kv, 0.0, &ctx[static_cast<size_t>(t0) * dout + h * hd], dout);
      }
    }

    double* ob = out.data() + static_cast<size_t>(b) * T * dout;
    if (p.out_proj) {
      ProjectGemm(ctx.data(), wo, data.b_o, T, dout, dout, ob, dout);
    } else {
      std::copy(ctx.begin(), ctx.end(), ob);
    }
  }
  *max_abs_score = max_score;
  return out;
}

}  // namespace attnbench
