// A complete attnbench backend in one file: the template to start a new one from.
// It computes attention one query row at a time (one row of scores, never the T x T matrix).
#include <attnbench/attnbench.h>

#include <cmath>
#include <limits>

namespace {

class ExampleAttention {
 public:
  // The name `attnbench list` shows and `--backends` selects: short, unique, [a-z0-9-].
  static constexpr const char* kName = "example";
  static constexpr const char* kDescription = "out-of-tree template: one query row at a time, 1 thread";

  // Optional: say which problems you cannot run, and why ("" = supported).
  static std::string Supports(const ab_problem& p) {
    return p.seq_len > (1 << 16) ? "example keeps T <= 65536" : "";
  }

  // prepare (not timed): keep the problem and the weights, allocate every buffer run needs.
  ExampleAttention(const ab_problem& p, const ab_weights& w)
      : p_(p), w_(w), q_(static_cast<size_t>(p.seq_len) * p.d_out), k_(q_.size()), v_(q_.size()),
        ctx_(p.d_out), row_(p.seq_len) {}

  size_t WorkspaceBytes() const { return q_.bytes() + k_.bytes() + v_.bytes() + ctx_.bytes() + row_.bytes(); }

  // run (timed): x [B, T, d_in] -> out [B, T, d_out]; no allocation here.
  void Run(const float* x, float* out) {
    const int T = p_.seq_len, dout = p_.d_out, hd = attnbench::HeadDim(p_);
    const float scale = static_cast<float>(attnbench::ScoreScale(p_));
    const uint64_t threshold = ab_dropout_threshold(p_.dropout_p);
    for (int b = 0; b < p_.batch; ++b) {
      const float* xb = x + static_cast<size_t>(b) * T * p_.d_in;
      Project(xb, w_.w_q, w_.b_q, q_.data());
      Project(xb, w_.w_k, w_.b_k, k_.data());
      Project(xb, w_.w_v, w_.b_v, v_.data());
      for (int i = 0; i < T; ++i) {
        for (int h = 0; h < p_.heads; ++h) {
          const float* q = &q_[static_cast<size_t>(i) * dout + h * hd];
          const int visible = p_.causal ? i + 1 : T;  // masked keys are simply not visited
          float m = -std::numeric_limits<float>::infinity(), sum = 0.0f;
          for (int j = 0; j < visible; ++j) {
            const float* k = &k_[static_cast<size_t>(j) * dout + h * hd];
            float s = 0.0f;
            for (int d = 0; d < hd; ++d) s += q[d] * k[d];
            row_[j] = s * scale;
            m = std::fmax(m, row_[j]);
          }
          for (int j = 0; j < visible; ++j) sum += (row_[j] = std::exp(row_[j] - m));
          // Dropout after the softmax, with the mask every backend shares (dropout.h).
          const uint64_t key = ab_dropout_row_key(p_.dropout_seed, b, h, i);
          const float keep_scale = 1.0f / (sum * (1.0f - p_.dropout_p));
          for (int d = 0; d < hd; ++d) ctx_[h * hd + d] = 0.0f;
          for (int j = 0; j < visible; ++j) {
            if (p_.dropout_p > 0.0f && !ab_dropout_keep(key, j, threshold)) continue;
            const float wgt = row_[j] * keep_scale;
            const float* v = &v_[static_cast<size_t>(j) * dout + h * hd];
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
  // y = x . w (+ bias); simplified attention (no weights) uses x itself.
  void Project(const float* x, const float* w, const float* bias, float* y) const {
    const int din = p_.d_in, dout = p_.d_out;
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
  attnbench::AlignedBuffer<float> q_, k_, v_, ctx_, row_;
};

}  // namespace

// Generates the C table and the one exported symbol, attnbench_backend_entry().
ATTNBENCH_REGISTER_BACKEND(ExampleAttention)
