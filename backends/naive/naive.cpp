// naive: chapter 3 of the book as float32 nested loops, one thread. Per batch it materialises
// Q, K, V and, per head, the full T x T score matrix, exactly like the PyTorch code
// (scores = Q.K^T, masked_fill(-inf), softmax, dropout, weights.V), so its workspace shows what
// the textbook formulation costs.
#include <attnbench/attnbench.h>

#include <cmath>
#include <limits>

namespace {

using attnbench::AlignedBuffer;

class NaiveAttention {
 public:
  static constexpr const char* kName = "naive";
  static constexpr const char* kDescription =
      "textbook float32 nested loops, full T x T score matrix per head, 1 thread";

  NaiveAttention(const ab_problem& p, const ab_weights& w)
      : p_(p),
        w_(w),
        q_(static_cast<size_t>(p.seq_len) * p.d_out),
        k_(q_.size()),
        v_(q_.size()),
        ctx_(q_.size()),
        scores_(static_cast<size_t>(p.seq_len) * p.seq_len) {}

  size_t WorkspaceBytes() const {
    return q_.bytes() + k_.bytes() + v_.bytes() + ctx_.bytes() + scores_.bytes();
  }

  void Run(const float* x, float* out) {
    const int T = p_.seq_len, din = p_.d_in, dout = p_.d_out;
    for (int b = 0; b < p_.batch; ++b) {
      const float* xb = x + static_cast<size_t>(b) * T * din;
      if (p_.qkv_proj) {
        Project(xb, w_.w_q, w_.b_q, q_.data(), T, din, dout);
        Project(xb, w_.w_k, w_.b_k, k_.data(), T, din, dout);
        Project(xb, w_.w_v, w_.b_v, v_.data(), T, din, dout);
      } else {  // simplified: Q = K = V = X
        q_.CopyFrom(xb);
        k_.CopyFrom(xb);
        v_.CopyFrom(xb);
      }
      for (int h = 0; h < p_.heads; ++h) Head(b, h);
      float* ob = out + static_cast<size_t>(b) * T * dout;
      if (p_.out_proj) {
        Project(ctx_.data(), w_.w_o, w_.b_o, ob, T, dout, dout);
      } else {
        for (size_t i = 0; i < ctx_.size(); ++i) ob[i] = ctx_[i];
      }
    }
  }

 private:
  // y[T, n] = x[T, k] . w[k, n] (+ bias)
  static void Project(const float* x, const float* w, const float* bias, float* y, int T, int k,
                      int n) {
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < n; ++c) {
        float acc = bias ? bias[c] : 0.0f;
        for (int i = 0; i < k; ++i) acc += x[static_cast<size_t>(t) * k + i] * w[static_cast<size_t>(i) * n + c];
        y[static_cast<size_t>(t) * n + c] = acc;
      }
  }

  void Head(int b, int h) {
    const int T = p_.seq_len, dout = p_.d_out, hd = attnbench::HeadDim(p_);
    const float scale = static_cast<float>(attnbench::ScoreScale(p_));
    const float ninf = -std::numeric_limits<float>::infinity();
    const size_t off = static_cast<size_t>(h) * hd;
    // scores = Q_h . K_h^T * scale, masked_fill(j > i, -inf)
    for (int i = 0; i < T; ++i)
      for (int j = 0; j < T; ++j) {
        float s = 0.0f;
        for (int d = 0; d < hd; ++d)
          s += q_[static_cast<size_t>(i) * dout + off + d] * k_[static_cast<size_t>(j) * dout + off + d];
        scores_[static_cast<size_t>(i) * T + j] = (p_.causal && j > i) ? ninf : s * scale;
      }
    // softmax over keys, then dropout
    const uint64_t threshold = ab_dropout_threshold(p_.dropout_p);
    const float keep_scale = 1.0f / (1.0f - p_.dropout_p);
    for (int i = 0; i < T; ++i) {
      float* row = scores_.data() + static_cast<size_t>(i) * T;
      float m = ninf;
      for (int j = 0; j < T; ++j) m = std::fmax(m, row[j]);
      float sum = 0.0f;
      for (int j = 0; j < T; ++j) sum += (row[j] = std::exp(row[j] - m));
      for (int j = 0; j < T; ++j) row[j] /= sum;
      if (p_.dropout_p > 0.0f) {
        const uint64_t key = ab_dropout_row_key(p_.dropout_seed, b, h, i);
        for (int j = 0; j < T; ++j) row[j] = ab_dropout_keep(key, j, threshold) ? row[j] * keep_scale : 0.0f;
      }
    }
    // ctx_h = weights . V_h
    for (int i = 0; i < T; ++i)
      for (int d = 0; d < hd; ++d) {
        float acc = 0.0f;
        for (int j = 0; j < T; ++j)
          acc += scores_[static_cast<size_t>(i) * T + j] * v_[static_cast<size_t>(j) * dout + off + d];
        ctx_[static_cast<size_t>(i) * dout + off + d] = acc;
      }
  }

  ab_problem p_;
  ab_weights w_;
  AlignedBuffer<float> q_, k_, v_, ctx_, scores_;
};

}  // namespace

ATTNBENCH_REGISTER_BACKEND(NaiveAttention)
