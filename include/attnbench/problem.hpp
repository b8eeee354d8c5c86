// The attention problem in C++: the four chapter-3 variants as presets over ab_problem, the
// derived sizes, and the one check every entry point runs before allocating anything.
#ifndef ATTNBENCH_PROBLEM_HPP_
#define ATTNBENCH_PROBLEM_HPP_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "attnbench/backend_abi.h"

namespace attnbench {

// The variants of chapter 3 of "Build a Large Language Model (From Scratch)".
enum class Variant {
  kSimplified,  // no weights: Q = K = V = X, scores X.X^T unscaled
  kSelf,        // W_q, W_k, W_v; scores scaled by 1/sqrt(head_dim)
  kCausal,      // self + causal mask + dropout on the weights
  kMha,         // causal + H heads + output projection
};

inline constexpr Variant kAllVariants[] = {Variant::kSimplified, Variant::kSelf, Variant::kCausal,
                                           Variant::kMha};

inline const char* VariantName(Variant v) {
  switch (v) {
    case Variant::kSimplified: return "simplified";
    case Variant::kSelf: return "self";
    case Variant::kCausal: return "causal";
    case Variant::kMha: return "mha";
  }
  return "?";
}

inline std::optional<Variant> ParseVariant(std::string_view s) {
  for (Variant v : kAllVariants)
    if (s == VariantName(v)) return v;
  return std::nullopt;
}

// What a variant fixes. Sizes, heads, dropout and bias come from the caller; causal is the
// variant's default unless the caller overrides it.
inline ab_problem MakeProblem(Variant v, int32_t batch, int32_t seq_len, int32_t d_in,
                              int32_t d_out, int32_t heads) {
  ab_problem p{};
  p.batch = batch;
  p.seq_len = seq_len;
  p.d_in = d_in;
  p.d_out = v == Variant::kSimplified ? d_in : d_out;
  p.heads = heads;
  p.qkv_proj = v != Variant::kSimplified;
  p.qkv_bias = 0;
  p.out_proj = v == Variant::kMha;
  p.causal = v == Variant::kCausal || v == Variant::kMha;
  p.threads = 1;
  p.dropout_p = 0.0f;
  p.dropout_seed = 0;
  p.struct_size = sizeof(ab_problem);
  p.kv_heads = heads;
  p.window = 0;
  p.past_len = 0;
  return p;
}

inline int32_t HeadDim(const ab_problem& p) { return p.d_out / p.heads; }
// Width of K and V: kv_heads * head_dim (== d_out unless grouped-query).
inline int32_t KvDim(const ab_problem& p) { return p.kv_heads * HeadDim(p); }
// The KV head query head h reads: consecutive query heads share one (Llama's repeat_interleave).
inline int32_t KvHeadOf(const ab_problem& p, int32_t h) { return h / (p.heads / p.kv_heads); }
// Keys query t (0-based among the T new tokens) sees: [KeyBegin, KeyEnd) in absolute positions
// (the cache's past_len rows first). See backend_abi.h, "Positions".
inline int64_t KeyEnd(const ab_problem& p, int64_t t) {
  return p.causal ? p.past_len + t + 1 : static_cast<int64_t>(p.past_len) + p.seq_len;
}
inline int64_t KeyBegin(const ab_problem& p, int64_t t) {
  const int64_t begin = p.causal && p.window > 0 ? p.past_len + t + 1 - p.window : 0;
  return begin > 0 ? begin : 0;
}
// Whether p uses a version-2 form (a version-1 plugin cannot be given it).
inline bool UsesAbiV2Fields(const ab_problem& p) {
  return p.kv_heads != p.heads || p.window != 0 || p.past_len != 0;
}

// Scores are q.k * ScoreScale: 1/sqrt(head_dim) with trainable weights, 1 for simplified.
inline double ScoreScale(const ab_problem& p) {
  return p.qkv_proj ? 1.0 / std::sqrt(static_cast<double>(HeadDim(p))) : 1.0;
}

inline size_t InputElems(const ab_problem& p) {
  return static_cast<size_t>(p.batch) * p.seq_len * p.d_in;
}
inline size_t OutputElems(const ab_problem& p) {
  return static_cast<size_t>(p.batch) * p.seq_len * p.d_out;
}
inline size_t WeightElems(const ab_problem& p) {
  size_t n = 0;
  const size_t qkv_cols = static_cast<size_t>(p.d_out) + 2 * static_cast<size_t>(KvDim(p));
  if (p.qkv_proj) n += p.d_in * qkv_cols + (p.qkv_bias ? qkv_cols : 0);
  if (p.out_proj) n += static_cast<size_t>(p.d_out) * p.d_out + p.d_out;
  return n;
}
// Elements of one of k_cache / v_cache: [B, kv_heads, past_len, head_dim].
inline size_t CacheElems(const ab_problem& p) {
  return static_cast<size_t>(p.batch) * p.kv_heads * p.past_len * HeadDim(p);
}

// Largest size we accept per dimension: keeps every index product inside int64 and every
// per-row buffer sane. Memory is checked separately (harness/memory_check).
inline constexpr int32_t kMaxDim = 1 << 20;

// Empty when the problem is well formed, otherwise one sentence naming the bad value.
inline std::string CheckProblem(const ab_problem& p) {
  auto in_range = [](int64_t v) { return v >= 1 && v <= kMaxDim; };
  if (!in_range(p.batch)) return "batch must be in [1, " + std::to_string(kMaxDim) + "], got " + std::to_string(p.batch);
  if (!in_range(p.seq_len)) return "seq-len must be in [1, " + std::to_string(kMaxDim) + "], got " + std::to_string(p.seq_len);
  if (!in_range(p.d_in)) return "d-in must be in [1, " + std::to_string(kMaxDim) + "], got " + std::to_string(p.d_in);
  if (!in_range(p.d_out)) return "d-out must be in [1, " + std::to_string(kMaxDim) + "], got " + std::to_string(p.d_out);
  if (!in_range(p.heads)) return "heads must be in [1, " + std::to_string(kMaxDim) + "], got " + std::to_string(p.heads);
  if (p.d_out % p.heads != 0)
    return "d-out " + std::to_string(p.d_out) + " is not divisible by heads " + std::to_string(p.heads);
  if (p.kv_heads < 1 || p.kv_heads > p.heads || p.heads % p.kv_heads != 0)
    return "kv-heads " + std::to_string(p.kv_heads) + " does not divide heads " + std::to_string(p.heads);
  if (!p.qkv_proj && p.kv_heads != p.heads)
    return "simplified attention has no K/V projections, so kv-heads must equal heads";
  if (p.window < 0) return "window must be >= 0 (0 = unlimited), got " + std::to_string(p.window);
  if (p.window > 0 && !p.causal) return "a sliding window needs the causal mask";
  if (p.past_len < 0 || p.past_len > kMaxDim)
    return "past-len must be in [0, " + std::to_string(kMaxDim) + "], got " + std::to_string(p.past_len);
  if (!p.qkv_proj && p.d_out != p.d_in)
    return "simplified attention has no weights, so d-out must equal d-in";
  if (!p.qkv_proj && p.qkv_bias) return "qkv-bias needs the Q/K/V projections";
  if (!(p.dropout_p >= 0.0f && p.dropout_p < 1.0f))
    return "dropout must be in [0, 1), got " + std::to_string(p.dropout_p);
  if (p.threads < 1) return "threads must be >= 1, got " + std::to_string(p.threads);
  return {};
}

// One line, e.g. "B=1 T=1024 d_in=768 d_out=768 H=12 causal dropout=0.1 seed=7 bias oproj".
inline std::string Describe(const ab_problem& p) {
  std::string s = "B=" + std::to_string(p.batch) + " T=" + std::to_string(p.seq_len) +
                  " d_in=" + std::to_string(p.d_in) + " d_out=" + std::to_string(p.d_out) +
                  " H=" + std::to_string(p.heads);
  if (p.kv_heads != p.heads) s += " KVH=" + std::to_string(p.kv_heads);
  if (p.past_len) s += " P=" + std::to_string(p.past_len);
  if (p.window) s += " W=" + std::to_string(p.window);
  if (!p.qkv_proj) s += " no-weights";
  if (p.causal) s += " causal";
  if (p.dropout_p > 0.0f) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " dropout=%g seed=%llu", static_cast<double>(p.dropout_p),
                  static_cast<unsigned long long>(p.dropout_seed));
    s += buf;
  }
  if (p.qkv_bias) s += " qkv-bias";
  if (p.out_proj) s += " out-proj";
  return s;
}

}  // namespace attnbench

#endif  // ATTNBENCH_PROBLEM_HPP_
