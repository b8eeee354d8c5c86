// naive: chapter 3 of the book as float32 nested loops, one thread. Per batch it materialises
// Q, K, V and, per head, the full T x (P + T) score matrix, exactly like the PyTorch code
// (scores = Q.K^T, masked_fill(-inf), softmax, dropout, weights.V), so its workspace shows what
// the textbook formulation costs. The version-2 forms the same way: K and V are the cache's P
// rows followed by the T projected ones (copied each run, as a decoder's torch.cat would), query
// head h reads KV head h / (heads / kv_heads), and the mask is the causal one offset by P, cut
// to the window.
#include <attnbench/attnbench.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace {

using attnbench::AlignedBuffer;

class NaiveAttention {
 public:
  static constexpr const char* kName = "naive";
  static constexpr const char* kDescription =
      "textbook float32 nested loops, full T x (P + T) score matrix per head, 1 thread";
  static constexpr bool kAbiV2Problems = true;

  NaiveAttention(const ab_problem& p, const ab_weights& w)
      : p_(p),
        w_(w),
        keys_(static_cast<size_t>(p.past_len) + p.seq_len),
        q_(static_cast<size_t>(p.seq_len) * p.d_out),
        k_(keys_ * attnbench::KvDim(p)),
        v_(k_.size()),
        ctx_(q_.size()),
        scores_(static_cast<size_t>(p.seq_len) * keys_) {}

  size_t WorkspaceBytes() const {
    return q_.bytes() + k_.bytes() + v_.bytes() + ctx_.bytes() + scores_.bytes();
  }

  void Run(const float* x, float* out) {
    const int T = p_.seq_len, P = p_.past_len, din = p_.d_in, dout = p_.d_out, kv = attnbench::KvDim(p_);
    for (int b = 0; b < p_.batch; ++b) {
      const float* xb = x + static_cast<size_t>(b) * T * din;
      CopyCache(b);
      float* k_new = k_.data() + static_cast<size_t>(P) * kv;  // the T new keys follow the cache
      float* v_new = v_.data() + static_cast<size_t>(P) * kv;
      if (p_.qkv_proj) {
        Project(xb, w_.w_q, w_.b_q, q_.data(), T, din, dout);
        Project(xb, w_.w_k, w_.b_k, k_new, T, din, kv);
        Project(xb, w_.w_v, w_.b_v, v_new, T, din, kv);
      } else {  // simplified: Q = K = V = X
        const size_t n = static_cast<size_t>(T) * din;
        std::memcpy(q_.data(), xb, n * sizeof(float));
        std::memcpy(k_new, xb, n * sizeof(float));
        std::memcpy(v_new, xb, n * sizeof(float));
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

  // Rows 0..P-1 of K and V from the cache [B, kv_heads, P, head_dim] of batch b.
  void CopyCache(int b) {
    const int P = p_.past_len, hd = attnbench::HeadDim(p_), kv = attnbench::KvDim(p_);
    for (int g = 0; g < p_.kv_heads && P > 0; ++g)
      for (int j = 0; j < P; ++j) {
        const size_t from = ((static_cast<size_t>(b) * p_.kv_heads + g) * P + j) * hd;
        const size_t to = static_cast<size_t>(j) * kv + static_cast<size_t>(g) * hd;
        std::memcpy(k_.data() + to, w_.k_cache + from, hd * sizeof(float));
        std::memcpy(v_.data() + to, w_.v_cache + from, hd * sizeof(float));
      }
  }

  void Head(int b, int h) {
    const int T = p_.seq_len, dout = p_.d_out, hd = attnbench::HeadDim(p_), kv = attnbench::KvDim(p_);
    const int N = static_cast<int>(keys_);
    const float scale = static_cast<float>(attnbench::ScoreScale(p_));
    const float ninf = -std::numeric_limits<float>::infinity();
    const size_t qoff = static_cast<size_t>(h) * hd;
    const size_t koff = static_cast<size_t>(attnbench::KvHeadOf(p_, h)) * hd;
    // scores = Q_h . K_g^T * scale, masked_fill(j outside [KeyBegin, KeyEnd), -inf)
    for (int i = 0; i < T; ++i) {
      const int64_t begin = attnbench::KeyBegin(p_, i), end = attnbench::KeyEnd(p_, i);
      for (int j = 0; j < N; ++j) {
        float s = 0.0f;
        for (int d = 0; d < hd; ++d)
          s += q_[static_cast<size_t>(i) * dout + qoff + d] * k_[static_cast<size_t>(j) * kv + koff + d];
        scores_[static_cast<size_t>(i) * N + j] = (j < begin || j >= end) ? ninf : s * scale;
      }
    }
    // softmax over keys, then dropout (keyed by the absolute positions P + i and j)
    const uint64_t threshold = ab_dropout_threshold(p_.dropout_p);
    const float keep_scale = 1.0f / (1.0f - p_.dropout_p);
    for (int i = 0; i < T; ++i) {
      float* row = scores_.data() + static_cast<size_t>(i) * N;
      float m = ninf;
      for (int j = 0; j < N; ++j) m = std::fmax(m, row[j]);
      float sum = 0.0f;
      for (int j = 0; j < N; ++j) sum += (row[j] = std::exp(row[j] - m));
      for (int j = 0; j < N; ++j) row[j] /= sum;
      if (p_.dropout_p > 0.0f) {
        const uint64_t key = ab_dropout_row_key(p_.dropout_seed, b, h, static_cast<uint64_t>(p_.past_len) + i);
        for (int j = 0; j < N; ++j) row[j] = ab_dropout_keep(key, j, threshold) ? row[j] * keep_scale : 0.0f;
      }
    }
    // ctx_h = weights . V_g
    for (int i = 0; i < T; ++i)
      for (int d = 0; d < hd; ++d) {
        float acc = 0.0f;
        for (int j = 0; j < N; ++j)
          acc += scores_[static_cast<size_t>(i) * N + j] * v_[static_cast<size_t>(j) * kv + koff + d];
        ctx_[static_cast<size_t>(i) * dout + qoff + d] = acc;
      }
  }

  ab_problem p_;
  ab_weights w_;
  size_t keys_;  // P + T: every key a query may see
  AlignedBuffer<float> q_, k_, v_, ctx_, scores_;
};

}  // namespace

ATTNBENCH_REGISTER_BACKEND(NaiveAttention)
