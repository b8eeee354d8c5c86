// A complete attnbench backend in one file: the template to start a new one from.
// It computes attention one query row at a time (one row of scores, never the T x T matrix),
// for every problem of ABI version 2: grouped-query heads, sliding windows and a KV cache too.
#include <attnbench/attnbench.h>

#include <cmath>
#include <limits>

namespace {

class ExampleAttention {
 public:
  // The name `attnbench list` shows and `--backends` selects: short, unique, [a-z0-9-].
  static constexpr const char* kName = "example";
  static constexpr const char* kDescription = "out-of-tree template: one query row at a time, 1 thread";
  // Opt in to kv_heads != heads, window and past_len (without it the host reports them as
  // UNSUPPORTED for this backend and never calls it with them).
  static constexpr bool kAbiV2Problems = true;

  // Optional: say which problems you cannot run, and why ("" = supported).
  static std::string Supports(const ab_problem& p) {
    return p.seq_len > (1 << 16) ? "example keeps T <= 65536" : "";
  }

  // prepare (not timed): keep the problem and the weights, allocate every buffer run needs.
  // Keys are the past_len cached rows followed by the T new ones: K and V hold P + T rows of
  // kv_dim = kv_heads * head_dim columns.
  ExampleAttention(const ab_problem& p, const ab_weights& w)
      : p_(p), w_(w), keys_(static_cast<size_t>(p.past_len) + p.seq_len),
        q_(static_cast<size_t>(p.seq_len) * p.d_out), k_(keys_ * attnbench::KvDim(p)), v_(k_.size()),
        ctx_(p.d_out), row_(keys_) {}

  size_t WorkspaceBytes() const { return q_.bytes() + k_.bytes() + v_.bytes() + ctx_.bytes() + row_.bytes(); }

  // run (timed): x [B, T, d_in] -> out [B, T, d_out]; no allocation here.
  void Run(const float* x, float* out) {
    const int T = p_.seq_len, P = p_.past_len, dout = p_.d_out, hd = attnbench::HeadDim(p_);
    const int kv = attnbench::KvDim(p_);
    const float scale = static_cast<float>(attnbench::ScoreScale(p_));
    const uint64_t threshold = ab_dropout_threshold(p_.dropout_p);
    for (int b = 0; b < p_.batch; ++b) {
      const float* xb = x + static_cast<size_t>(b) * T * p_.d_in;
      CopyCache(b);
      Project(xb, w_.w_q, w_.b_q, q_.data(), dout);
      Project(xb, w_.w_k, w_.b_k, k_.data() + static_cast<size_t>(P) * kv, kv);
      Project(xb, w_.w_v, w_.b_v, v_.data() + static_cast<size_t>(P) * kv, kv);
      for (int i = 0; i < T; ++i) {
        for (int h = 0; h < p_.heads; ++h) {
          const float* q = &q_[static_cast<size_t>(i) * dout + h * hd];
          const int g = attnbench::KvHeadOf(p_, h);  // the KV head this query head reads
          // The keys row i sees, in absolute positions (the cache's rows first): the causal mask
          // offset by past_len, cut to the window. Masked keys are simply not visited.
          const int begin = static_cast<int>(attnbench::KeyBegin(p_, i));
          const int end = static_cast<int>(attnbench::KeyEnd(p_, i));
          float m = -std::numeric_limits<float>::infinity(), sum = 0.0f;
          for (int j = begin; j < end; ++j) {
            const float* k = &k_[static_cast<size_t>(j) * kv + g * hd];
            float s = 0.0f;
            for (int d = 0; d < hd; ++d) s += q[d] * k[d];
            row_[j] = s * scale;
            m = std::fmax(m, row_[j]);
          }
          for (int j = begin; j < end; ++j) sum += (row_[j] = std::exp(row_[j] - m));
          // Dropout after the softmax, with the mask every backend shares (dropout.h), keyed by
          // the absolute positions of query (P + i) and key (j).
          const uint64_t key = ab_dropout_row_key(p_.dropout_seed, b, h, static_cast<uint64_t>(P) + i);
          const float keep_scale = 1.0f / (sum * (1.0f - p_.dropout_p));
          for (int d = 0; d < hd; ++d) ctx_[h * hd + d] = 0.0f;
          for (int j = begin; j < end; ++j) {
            if (p_.dropout_p > 0.0f && !ab_dropout_keep(key, j, threshold)) continue;
            const float wgt = row_[j] * keep_scale;
            const float* v = &v_[static_cast<size_t>(j) * kv + g * hd];
            for (int d = 0; d < hd; ++d) ctx_[h * hd + d] += wgt * v[d];
          }
        }
        float* o = out + (static_cast<size_t>(b) * T + i) * dout;
        for (int c = 0; c < dout; ++c) {
          if (!p_.out_proj) {
            o[c] = ctx_[c];
            continue;
          }
          float acc = w_.b_o[c];
          for (int e = 0; e < dout; ++e) acc += ctx_[e] * w_.w_o[static_cast<size_t>(e) * dout + c];
          o[c] = acc;
        }
      }
    }
  }

 private:
  // Rows 0 .. P-1 of K and V: the cache [B, kv_heads, P, head_dim] of batch b, copied into the
  // row layout the new keys use. (A real engine keeps its cache in its own layout instead.)
  void CopyCache(int b) {
    const int P = p_.past_len, hd = attnbench::HeadDim(p_), kv = attnbench::KvDim(p_);
    for (int g = 0; g < p_.kv_heads && P > 0; ++g)
      for (int j = 0; j < P; ++j)
        for (int d = 0; d < hd; ++d) {
          const size_t from = ((static_cast<size_t>(b) * p_.kv_heads + g) * P + j) * hd + d;
          k_[static_cast<size_t>(j) * kv + g * hd + d] = w_.k_cache[from];
          v_[static_cast<size_t>(j) * kv + g * hd + d] = w_.v_cache[from];
        }
  }

  // y [T, n] = x . w (+ bias); simplified attention (no weights) uses x itself (n = d_in).
  void Project(const float* x, const float* w, const float* bias, float* y, int n) const {
    const int din = p_.d_in, dout = n;
    // Rows are independent: OpenMP splits them over the threads the harness set (--threads).
#pragma omp parallel for schedule(static)
    for (int t = 0; t < p_.seq_len; ++t)
      for (int c = 0; c < dout; ++c) {
        const float* xt = x + static_cast<size_t>(t) * din;
        if (!p_.qkv_proj) {
          y[static_cast<size_t>(t) * dout + c] = xt[c];
          continue;
        }
        float acc = bias ? bias[c] : 0.0f;
        for (int e = 0; e < din; ++e) acc += xt[e] * w[static_cast<size_t>(e) * dout + c];
        y[static_cast<size_t>(t) * dout + c] = acc;
      }
  }

  ab_problem p_;
  ab_weights w_;
  size_t keys_;  // past_len + T
  attnbench::AlignedBuffer<float> q_, k_, v_, ctx_, row_;
};

}  // namespace

// Generates the C table and the one exported symbol, attnbench_backend_entry().
ATTNBENCH_REGISTER_BACKEND(ExampleAttention)
