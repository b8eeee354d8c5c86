// openmp: the naive algorithm reorganised for the cache and spread over threads with OpenMP.
// No BLAS, no intrinsics: the compiler vectorises the contiguous inner loops (omp simd).
//
//  - Q, K, V come from one fused projection with W_q|W_k|W_v packed side by side, computed
//    row-wise as y += x[k] * W[k, :] so the inner loop runs along a contiguous weight row;
//    four rows share each weight row load.
//  - Attention runs per (batch, head, query row): scores are dot products of the query with
//    contiguous head_dim slices of K, the context is accumulated row-wise from contiguous V
//    slices. Only the visible keys are touched (j <= i when causal), so no score is masked.
//  - The softmax normalisation and the dropout scale are applied once to the context row
//    (head_dim values) instead of to the T weights.
#include <attnbench/attnbench.h>
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "kernels/pack.h"

namespace {

using attnbench::AlignedBuffer;

class OpenMpAttention {
 public:
  static constexpr const char* kName = "openmp";
  static constexpr const char* kDescription =
      "cache-friendly loops (row-wise projections, contiguous K/V head rows), OpenMP over "
      "batch x heads x query rows";

  static std::string RuntimeInfo() {
    return "OpenMP " + std::to_string(_OPENMP) + ", max threads " +
           std::to_string(omp_get_max_threads());
  }

  OpenMpAttention(const ab_problem& p, const ab_weights& w)
      : p_(p),
        hd_(attnbench::HeadDim(p)),
        ld_(p.qkv_proj ? 3 * p.d_out : p.d_in),
        qkv_(static_cast<size_t>(p.batch) * p.seq_len * ld_),
        ctx_(p.out_proj ? static_cast<size_t>(p.batch) * p.seq_len * p.d_out : 0),
        scores_(static_cast<size_t>(p.threads) * p.seq_len) {
    if (p.qkv_proj) PackQkv(w);
    if (p.out_proj) {
      w_o_ = AlignedBuffer<float>(static_cast<size_t>(p.d_out) * p.d_out);
      w_o_.CopyFrom(w.w_o);
      b_o_ = AlignedBuffer<float>(p.d_out);
      b_o_.CopyFrom(w.b_o);
    }
  }

  size_t WorkspaceBytes() const {
    return w_qkv_.bytes() + b_qkv_.bytes() + w_o_.bytes() + b_o_.bytes() + qkv_.bytes() +
           ctx_.bytes() + scores_.bytes();
  }

  void Run(const float* x, float* out) {
    const int rows = p_.batch * p_.seq_len;
    if (p_.qkv_proj) {
      Project(x, p_.d_in, w_qkv_.data(), b_qkv_.data(), qkv_.data(), rows, p_.d_in, ld_);
    } else {  // simplified: Q = K = V = X; a copy keeps one code path for the attention
      std::copy(x, x + qkv_.size(), qkv_.data());
    }
    float* ctx = p_.out_proj ? ctx_.data() : out;
    Attention(ctx);
    if (p_.out_proj)
      Project(ctx, p_.d_out, w_o_.data(), b_o_.data(), out, rows, p_.d_out, p_.d_out);
  }

 private:
  // W_q | W_k | W_v as one [d_in, 3 d_out] matrix: one pass over x yields Q, K and V.
  void PackQkv(const ab_weights& w) {
    const size_t din = p_.d_in, dout = p_.d_out;
    w_qkv_ = AlignedBuffer<float>(din * 3 * dout);
    b_qkv_ = AlignedBuffer<float>(3 * dout);
    attnbench::PackQkvWeights(w, din, dout, w_qkv_.data(), 3 * dout);
    attnbench::PackQkvBias(w, dout, b_qkv_.data());  // zeros without qkv bias
  }

  // y[rows, n] = x[rows, k] (row stride ldx) . w[k, n] + bias, rows in parallel. Four rows at a
  // time so each weight row is read once per four outputs.
  void Project(const float* x, int ldx, const float* w, const float* bias, float* y, int rows,
               int k, int n) const {
    constexpr int kRows = 4;
    const int blocks = (rows + kRows - 1) / kRows;
#pragma omp parallel for schedule(static) num_threads(p_.threads)
    for (int blk = 0; blk < blocks; ++blk) {
      const int r0 = blk * kRows, nr = std::min(kRows, rows - r0);
      float* yr[kRows];
      const float* xr[kRows];
      for (int r = 0; r < kRows; ++r) {
        const int rr = r0 + std::min(r, nr - 1);  // short last block repeats its last row
        yr[r] = y + static_cast<size_t>(rr) * n;
        xr[r] = x + static_cast<size_t>(rr) * ldx;
      }
      for (int r = 0; r < nr; ++r) std::copy(bias, bias + n, yr[r]);
      for (int kk = 0; kk < k; ++kk) {
        const float* wr = w + static_cast<size_t>(kk) * n;
        if (nr == kRows) {
          const float a0 = xr[0][kk], a1 = xr[1][kk], a2 = xr[2][kk], a3 = xr[3][kk];
          float *y0 = yr[0], *y1 = yr[1], *y2 = yr[2], *y3 = yr[3];
#pragma omp simd
          for (int c = 0; c < n; ++c) {
            y0[c] += a0 * wr[c];
            y1[c] += a1 * wr[c];
            y2[c] += a2 * wr[c];
            y3[c] += a3 * wr[c];
          }
        } else {
          for (int r = 0; r < nr; ++r) {
            const float a = xr[r][kk];
            float* yy = yr[r];
#pragma omp simd
            for (int c = 0; c < n; ++c) yy[c] += a * wr[c];
          }
        }
      }
    }
  }

  // ctx[b, i, h*hd:(h+1)*hd] for every (b, h, i), in parallel; consecutive queries of one head
  // go to one thread so its K and V slices stay in cache.
  void Attention(float* ctx) {
    const int T = p_.seq_len, H = p_.heads;
    const long total = static_cast<long>(p_.batch) * H * T;
#pragma omp parallel num_threads(p_.threads)
    {
      float* scores = scores_.data() + static_cast<size_t>(omp_get_thread_num()) * T;
#pragma omp for schedule(dynamic, 16)
      for (long idx = 0; idx < total; ++idx) {
        const int i = static_cast<int>(idx % T);
        const int h = static_cast<int>(idx / T % H);
        const int b = static_cast<int>(idx / (static_cast<long>(T) * H));
        QueryRow(b, h, i, scores, ctx);
      }
    }
  }

  void QueryRow(int b, int h, int i, float* scores, float* ctx) const {
    const int T = p_.seq_len, hd = hd_, ld = ld_;
    const int n = p_.causal ? i + 1 : T;  // visible keys
    const float scale = static_cast<float>(attnbench::ScoreScale(p_));
    const size_t base = static_cast<size_t>(b) * T * ld;
    const int q_off = h * hd;
    const int k_off = (p_.qkv_proj ? p_.d_out : 0) + h * hd;
    const int v_off = (p_.qkv_proj ? 2 * p_.d_out : 0) + h * hd;
    const float* q = qkv_.data() + base + static_cast<size_t>(i) * ld + q_off;

    float m = -INFINITY;
    for (int j = 0; j < n; ++j) {
      const float* kr = qkv_.data() + base + static_cast<size_t>(j) * ld + k_off;
      float s = 0.0f;
#pragma omp simd reduction(+ : s)
      for (int d = 0; d < hd; ++d) s += q[d] * kr[d];
      scores[j] = s * scale;
      m = std::max(m, scores[j]);
    }
    float sum = 0.0f;
    for (int j = 0; j < n; ++j) sum += (scores[j] = std::exp(scores[j] - m));
    if (p_.dropout_p > 0.0f) {  // after the sum: the softmax is normalised before dropout
      const uint64_t key = ab_dropout_row_key(p_.dropout_seed, b, h, i);
      const uint64_t threshold = ab_dropout_threshold(p_.dropout_p);
      for (int j = 0; j < n; ++j)
        if (!ab_dropout_keep(key, j, threshold)) scores[j] = 0.0f;
    }

    float* c = ctx + (static_cast<size_t>(b) * T + i) * p_.d_out + h * hd;
    std::fill(c, c + hd, 0.0f);
    for (int j = 0; j < n; ++j) {
      const float pj = scores[j];
      if (pj == 0.0f) continue;  // dropped (or underflowed) weight
      const float* vr = qkv_.data() + base + static_cast<size_t>(j) * ld + v_off;
#pragma omp simd
      for (int d = 0; d < hd; ++d) c[d] += pj * vr[d];
    }
    const float norm = 1.0f / ((1.0f - p_.dropout_p) * sum);
    for (int d = 0; d < hd; ++d) c[d] *= norm;
  }

  ab_problem p_;
  int hd_, ld_;
  AlignedBuffer<float> w_qkv_, b_qkv_, w_o_, b_o_;
  AlignedBuffer<float> qkv_;     // [B*T, ld]: Q | K | V per row (or X when simplified)
  AlignedBuffer<float> ctx_;     // [B*T, d_out], only with out_proj (else ctx goes to out)
  AlignedBuffer<float> scores_;  // [threads, T]: one score row per thread
};

}  // namespace

ATTNBENCH_REGISTER_BACKEND(OpenMpAttention)
