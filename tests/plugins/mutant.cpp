// A small, straightforward attention backend with one deliberate bug chosen by its kind (the
// plugin's MUTANT_KIND, mutant_entry.cpp; this file is compiled once for all of them). The validation tests require every mutant but "none" to FAIL on the default
// grid: that is what proves the checks can fail. "none" is the control: the same code without a
// bug must PASS, so a FAIL of the others comes from their bug, not from this file. "segv",
// "abort" and "hang" test --isolate. The numeric bugs are the catalogue of harness/diagnose.h
// (one mutant per mistake, named by its id): each must be diagnosed with its own mistake.
// "hogrun" and "hoghold" are correct but use 64 MiB more than they claim (in run / held from
// prepare): the measured-memory check must flag them. Every kind computes the ABI version 2 forms
// too (grouped-query heads, sliding window, KV cache) the way the reference does, so the control
// passes them and "window_off_by_one", "kv_map", "cache_offset" fail only through their bug.
#include "mutant.h"

#include <attnbench/attnbench.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdlib>
#include <thread>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

class MutantAttention {
 public:
  // K and V hold the past_len cached rows, then the T new ones: keys in absolute positions.
  MutantAttention(std::string_view kind, const ab_problem& p, const ab_weights& w)
      : kind_(kind), p_(p), w_(w), q_(static_cast<size_t>(p.seq_len) * p.d_out),
        k_(static_cast<size_t>(Keys()) * KvDim()), v_(k_.size()), ctx_(q_.size()),
        s_(static_cast<size_t>(p.seq_len) * Keys()) {
    // The checks inside the T x L loops, decided once (Is compares strings).
    interleaved_ = Is("heads_interleaved");
    cache_offset_ = Is("cache_offset");
    window_off_by_one_ = Is("window_off_by_one");
    mask_lt_ = Is("mask_lt");
    mask_leak_ = Is("mask_leak");
    mask_inverted_ = Is("mask_inverted");
    // hoghold: holds 64 MiB it does not report in WorkspaceBytes (issue 12's memory check).
    if (Is("hoghold")) {
      unreported_.assign(kHogBytes / sizeof(float), 1.0f);
      asm volatile("" : : "r"(unreported_.data()) : "memory");
    }
  }
  size_t WorkspaceBytes() const {
    return (q_.size() + k_.size() + v_.size() + ctx_.size()) * sizeof(float) + s_.size() * sizeof(double);
  }

  void Run(const float* x, float* out) {
    if (Is("throw")) throw std::runtime_error("mutant-throw: thrown on purpose");
    // Crash and hang only in bigger problems, so that an isolated run shows the others passing.
    if (p_.seq_len >= 17) {
      if (Is("segv")) std::raise(SIGSEGV);
      if (Is("abort")) std::abort();
      if (Is("hang"))
        for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    if (Is("hogrun")) {  // allocates and touches 64 MiB in every run, reports none of it
      std::vector<float> scratch(kHogBytes / sizeof(float), 1.0f);
      asm volatile("" : : "r"(scratch.data()) : "memory");  // the stores happen: nothing elides them
    }
    const int T = p_.seq_len, din = p_.d_in, dout = p_.d_out, H = p_.heads, P = p_.past_len, kvd = KvDim();
    for (int b = 0; b < p_.batch; ++b) {
      const float* xb = x + static_cast<size_t>(b) * T * din;
      Project(xb, w_.w_q, w_.b_q, q_.data(), dout);
      CopyCache(b, w_.k_cache, k_.data());
      CopyCache(b, w_.v_cache, v_.data());
      // kv_swapped: K from W_v (and b_v), V from W_k.
      const bool kv = Is("kv_swapped");
      float* k_new = k_.data() + static_cast<size_t>(P) * kvd;
      float* v_new = v_.data() + static_cast<size_t>(P) * kvd;
      Project(xb, kv ? w_.w_v : w_.w_k, kv ? w_.b_v : w_.b_k, k_new, kvd);
      Project(xb, kv ? w_.w_k : w_.w_v, kv ? w_.b_k : w_.b_v, v_new, kvd);
      for (int h = 0; h < H; ++h) {
        // heads_swapped: head 0 and head 1 write each other's columns.
        int dst = h;
        if (Is("heads_swapped") && H >= 2 && h < 2) dst = 1 - h;
        Head(b, h, dst);
      }
      float* ob = out + static_cast<size_t>(b) * T * dout;
      const int rows = Is("unwritten") && b == p_.batch - 1 ? T - 1 : T;
      for (int t = 0; t < rows; ++t)
        for (int c = 0; c < dout; ++c) {
          double acc = 0.0;
          if (p_.out_proj && !Is("out_proj_missing")) {
            const bool tr = Is("out_weights_transposed");  // ctx.W_o^T
            acc = w_.b_o[c];
            for (int i = 0; i < dout; ++i)
              acc += ctx_[t * dout + i] * w_.w_o[tr ? static_cast<size_t>(c) * dout + i : static_cast<size_t>(i) * dout + c];
          } else {
            acc = ctx_[t * dout + c];
          }
          ob[static_cast<size_t>(t) * dout + c] = static_cast<float>(acc);
        }
      if (Is("nan")) ob[0] = std::numeric_limits<float>::quiet_NaN();
    }
  }

 private:
  bool Is(std::string_view k) const { return kind_ == k; }
  int HeadDim() const { return p_.d_out / p_.heads; }
  int KvDim() const { return p_.kv_heads * HeadDim(); }
  int Keys() const { return p_.past_len + p_.seq_len; }

  // y [T, width] = x . w (+ bias); w is [d_in, width]. Without projections y = x (width = d_in).
  void Project(const float* x, const float* w, const float* bias, float* y, int width) const {
    const int T = p_.seq_len, din = p_.d_in;
    if (Is("bias_missing")) bias = nullptr;
    const bool tr = Is("weights_transposed") && din == width;  // X.W^T
    for (int t = 0; t < T; ++t)
      for (int c = 0; c < width; ++c) {
        double acc = p_.qkv_proj ? (bias ? bias[c] : 0.0) : x[static_cast<size_t>(t) * din + c];
        if (p_.qkv_proj)
          for (int i = 0; i < din; ++i)
            acc += x[static_cast<size_t>(t) * din + i] * w[tr ? static_cast<size_t>(c) * din + i : static_cast<size_t>(i) * width + c];
        y[static_cast<size_t>(t) * width + c] = static_cast<float>(acc);
      }
  }

  // The first past_len rows of K (V) from batch b of the cache [B, kv_heads, P, head_dim].
  void CopyCache(int b, const float* cache, float* rows) const {
    const int P = p_.past_len, hd = HeadDim(), kvh = p_.kv_heads;
    for (int g = 0; g < kvh; ++g)
      for (int j = 0; j < P; ++j)
        for (int d = 0; d < hd; ++d)
          rows[static_cast<size_t>(j) * KvDim() + KvCol(g, d)] =
              cache[((static_cast<size_t>(b) * kvh + g) * P + j) * hd + d];
  }

  // Whether query t (absolute position i = past_len + t) sees key j (backend_abi.h, "Positions").
  bool Visible(int t, int j) const {
    if (!p_.causal) return true;
    // cache_offset: the mask forgets the cache, as if query t sat at position t.
    const int i = cache_offset_ ? t : p_.past_len + t;
    const int W = p_.window;
    // window_off_by_one: i - W <= j, one key more than the window.
    if (W > 0 && (window_off_by_one_ ? j < i - W : j <= i - W)) return false;
    if (mask_lt_) return j < i;          // the diagonal masked too
    if (mask_leak_) return j <= i + 1;   // one future token leaks
    if (mask_inverted_) return j >= i;
    return j <= i;
  }

  // The column of element d of head h: a block of head_dim, or h, h+H, ... when interleaved.
  int Col(int h, int d) const {
    const int H = p_.heads, hd = HeadDim();
    return interleaved_ ? d * H + h : h * hd + d;
  }
  // The same in K and V, whose kv_heads heads are KvDim wide.
  int KvCol(int g, int d) const {
    const int G = p_.kv_heads, hd = HeadDim();
    return interleaved_ ? d * G + g : g * hd + d;
  }
  // The KV head query head h reads: consecutive query heads share one; kv_map deals them out
  // round-robin instead (h % kv_heads), the other common layout, which is wrong here.
  int KvHead(int h) const {
    return Is("kv_map") ? h % p_.kv_heads : h / (p_.heads / p_.kv_heads);
  }

  double Scale() const {
    const int hd = p_.d_out / p_.heads;
    if (Is("no_scale") || !p_.qkv_proj) return 1.0;
    if (Is("scale_dout")) return 1.0 / std::sqrt(static_cast<double>(p_.d_out));
    if (Is("scale_hd")) return 1.0 / hd;
    return 1.0 / std::sqrt(static_cast<double>(hd));
  }

  // The mask is keyed by absolute positions: query t is row past_len + t.
  void Dropout(int b, int h, bool before_softmax) {
    const int T = p_.seq_len, L = Keys();
    const uint64_t seed = p_.dropout_seed + (Is("dropout_seed") ? 1 : 0);
    const uint64_t threshold = ab_dropout_threshold(p_.dropout_p);
    const double keep = Is("dropout_unscaled") ? 1.0 : 1.0 / (1.0 - p_.dropout_p);
    for (int i = 0; i < T; ++i) {
      const uint64_t key = ab_dropout_row_key(seed, b, h, p_.past_len + i);
      for (int j = 0; j < L; ++j) {
        double& e = s_[static_cast<size_t>(i) * L + j];
        if (before_softmax && std::isinf(e)) continue;  // masked stays masked
        e = ab_dropout_keep(key, j, threshold) ? e * keep : 0.0;
      }
    }
  }

  // s is [T, L]: the T new queries against all L = past_len + T keys.
  void Head(int b, int h, int dst) {
    const int T = p_.seq_len, L = Keys(), dout = p_.d_out, kvd = KvDim(), hd = HeadDim(), g = KvHead(h);
    const double scale = Scale();
    const double ninf = -std::numeric_limits<double>::infinity();
    // The head's columns of Q, K and V gathered into contiguous [rows, hd] copies first, so
    // that the T x L x hd loops below index plain arrays (they dominate the sanitized suite).
    const auto gather = [hd](const std::vector<float>& from, int rows, int ld, auto col) {
      std::vector<double> to(static_cast<size_t>(rows) * hd);
      for (int r = 0; r < rows; ++r)
        for (int d = 0; d < hd; ++d) to[static_cast<size_t>(r) * hd + d] = from[static_cast<size_t>(r) * ld + col(d)];
      return to;
    };
    const std::vector<double> q = gather(q_, T, dout, [&](int d) { return Col(h, d); });
    const std::vector<double> k = gather(k_, L, kvd, [&](int d) { return KvCol(g, d); });
    const std::vector<double> v = gather(v_, L, kvd, [&](int d) { return KvCol(g, d); });
    for (int i = 0; i < T; ++i)
      for (int j = 0; j < L; ++j) {
        double acc = 0.0;
        const double* qi = q.data() + static_cast<size_t>(i) * hd;
        const double* kj = k.data() + static_cast<size_t>(j) * hd;
        for (int d = 0; d < hd; ++d) acc += qi[d] * kj[d];
        s_[static_cast<size_t>(i) * L + j] = Visible(i, j) ? acc * scale : ninf;
      }
    const bool dropout = p_.dropout_p > 0.0f && !Is("dropout_missing");
    if (dropout && Is("dropout_before_softmax")) Dropout(b, h, true);
    // Softmax along keys (rows of s), or along queries (columns) for the softmax_axis mutant.
    const bool by_column = Is("softmax_axis");
    const int lines = by_column ? L : T, along = by_column ? T : L;
    for (int a = 0; a < lines; ++a) {
      auto at = [&](int k) -> double& {
        return by_column ? s_[static_cast<size_t>(k) * L + a] : s_[static_cast<size_t>(a) * L + k];
      };
      double m = ninf, sum = 0.0;
      for (int k = 0; k < along; ++k) m = std::max(m, at(k));
      for (int k = 0; k < along; ++k) sum += (at(k) = m == ninf ? 0.0 : std::exp(at(k) - m));
      for (int k = 0; k < along; ++k) at(k) = sum > 0.0 ? at(k) / sum : 0.0;
    }
    if (dropout && !Is("dropout_before_softmax")) Dropout(b, h, false);
    std::vector<double> acc(static_cast<size_t>(hd));
    for (int i = 0; i < T; ++i) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int j = 0; j < L; ++j) {
        const double p = s_[static_cast<size_t>(i) * L + j];
        const double* vj = v.data() + static_cast<size_t>(j) * hd;
        for (int d = 0; d < hd; ++d) acc[d] += p * vj[d];
      }
      for (int d = 0; d < hd; ++d) ctx_[static_cast<size_t>(i) * dout + Col(dst, d)] = static_cast<float>(acc[d]);
    }
  }

  static constexpr size_t kHogBytes = 64u << 20;
  std::string kind_;
  bool interleaved_ = false, cache_offset_ = false, window_off_by_one_ = false;
  bool mask_lt_ = false, mask_leak_ = false, mask_inverted_ = false;
  ab_problem p_;
  ab_weights w_;
  std::vector<float> unreported_;
  std::vector<float> q_, k_, v_, ctx_;
  std::vector<double> s_;
};

}  // namespace

namespace attnbench_test {

Mutant::Mutant(std::string_view kind, const ab_problem& p, const ab_weights& w)
    : impl_(new MutantAttention(kind, p, w)) {}
Mutant::~Mutant() { delete static_cast<MutantAttention*>(impl_); }
void Mutant::Run(const float* x, float* out) { static_cast<MutantAttention*>(impl_)->Run(x, out); }
size_t Mutant::WorkspaceBytes() const { return static_cast<const MutantAttention*>(impl_)->WorkspaceBytes(); }

}  // namespace attnbench_test
