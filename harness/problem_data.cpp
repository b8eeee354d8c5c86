#include "problem_data.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

namespace attnbench {

double Rng::Normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = Uniform(), u2 = Uniform();
  if (u1 < 1e-300) u1 = 1e-300;
  const double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
  has_spare_ = true;
  return r * std::cos(2.0 * std::numbers::pi * u2);
}

ab_weights ProblemData::Weights() const {
  auto ptr = [](const AlignedBuffer<float>& b) { return b.empty() ? nullptr : b.data(); };
  return ab_weights{ptr(w_q), ptr(w_k), ptr(w_v), ptr(b_q),     ptr(b_k),
                    ptr(b_v), ptr(w_o), ptr(b_o), ptr(k_cache), ptr(v_cache)};
}

ProblemData AllocateProblemData(const ab_problem& p) {
  ProblemData d;
  d.problem = p;
  const size_t din = p.d_in, dout = p.d_out, kv = KvDim(p);
  auto zeros = [](size_t n) {
    AlignedBuffer<float> b(n);
    b.Fill(0.0f);
    return b;
  };
  d.x = zeros(InputElems(p));
  if (p.qkv_proj) {
    d.w_q = zeros(din * dout);
    d.w_k = zeros(din * kv);
    d.w_v = zeros(din * kv);
    if (p.qkv_bias) {
      d.b_q = zeros(dout);
      d.b_k = zeros(kv);
      d.b_v = zeros(kv);
    }
  }
  if (p.out_proj) {
    d.w_o = zeros(dout * dout);
    d.b_o = zeros(dout);
  }
  if (p.past_len > 0) {
    d.k_cache = zeros(CacheElems(p));
    d.v_cache = zeros(CacheElems(p));
  }
  return d;
}

ProblemData MakeRandomProblemData(const ab_problem& p, uint64_t seed) {
  ProblemData d = AllocateProblemData(p);
  Rng rng(seed);
  auto fill = [&rng](AlignedBuffer<float>& b, double stddev) {
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(stddev * rng.Normal());
  };
  const double din = p.d_in;
  if (p.qkv_proj) {
    fill(d.x, 1.0);
    fill(d.w_q, std::sqrt(2.0 / din));
    fill(d.w_k, std::sqrt(2.0 / din));
    fill(d.w_v, std::sqrt(1.0 / din));
    fill(d.b_q, 0.5);
    fill(d.b_k, 0.5);
    fill(d.b_v, 0.5);
  } else {
    constexpr int kRank = 4;
    const size_t rows = static_cast<size_t>(p.batch) * p.seq_len;
    std::vector<double> a(kRank * static_cast<size_t>(p.d_in));
    for (double& v : a) v = rng.Normal();
    const double c = std::sqrt(1.0 / HeadDim(p));
    // One row of x: c (z A + 0.3 n), z and n fresh normals.
    auto draw_row = [&](float* row) {
      double z[kRank];
      for (double& v : z) v = rng.Normal();
      for (int i = 0; i < p.d_in; ++i) {
        double s = 0.3 * rng.Normal();
        for (int k = 0; k < kRank; ++k) s += z[k] * a[k * static_cast<size_t>(p.d_in) + i];
        row[i] = static_cast<float>(c * s);
      }
    };
    for (size_t r = 0; r < rows; ++r) draw_row(&d.x[r * p.d_in]);
    if (p.past_len > 0) {
      // The past tokens' rows, drawn like x and scattered into the [B, H, P, head_dim] layout.
      const int hd = HeadDim(p);
      std::vector<float> row(p.d_in);
      for (int b = 0; b < p.batch; ++b)
        for (int t = 0; t < p.past_len; ++t) {
          draw_row(row.data());
          for (int h = 0; h < p.heads; ++h) {
            const size_t at = ((static_cast<size_t>(b) * p.kv_heads + h) * p.past_len + t) * hd;
            std::copy(row.begin() + h * hd, row.begin() + (h + 1) * hd, d.k_cache.data() + at);
          }
        }
      d.v_cache.CopyFrom(d.k_cache.data());
    }
  }
  fill(d.w_o, std::sqrt(1.0 / p.d_out));
  fill(d.b_o, 0.5);
  if (p.qkv_proj) {
    const double bias_var = p.qkv_bias ? 0.25 : 0.0;
    fill(d.k_cache, std::sqrt(2.0 + bias_var));
    fill(d.v_cache, std::sqrt(1.0 + bias_var));
  }
  return d;
}

std::vector<NamedTensor> WeightTensors(ProblemData& d) {
  const ab_problem& p = d.problem;
  std::vector<NamedTensor> t;
  if (p.qkv_proj) {
    t.push_back({"w_q", &d.w_q, {p.d_in, p.d_out}});
    t.push_back({"w_k", &d.w_k, {p.d_in, KvDim(p)}});
    t.push_back({"w_v", &d.w_v, {p.d_in, KvDim(p)}});
    if (p.qkv_bias) {
      t.push_back({"b_q", &d.b_q, {p.d_out}});
      t.push_back({"b_k", &d.b_k, {KvDim(p)}});
      t.push_back({"b_v", &d.b_v, {KvDim(p)}});
    }
  }
  if (p.out_proj) {
    t.push_back({"w_o", &d.w_o, {p.d_out, p.d_out}});
    t.push_back({"b_o", &d.b_o, {p.d_out}});
  }
  if (p.past_len > 0) {
    t.push_back({"k_cache", &d.k_cache, {p.batch, p.kv_heads, p.past_len, HeadDim(p)}});
    t.push_back({"v_cache", &d.v_cache, {p.batch, p.kv_heads, p.past_len, HeadDim(p)}});
  }
  return t;
}

}  // namespace attnbench
