// The fused (flash-style) kernels on every SIMD target this binary compiled and this CPU runs
// (AVX3, AVX2, SSE4, SSSE3, the scalar fallback, ...): each target is forced with
// hwy::SetSupportedTargetsForTest and the whole attention is checked against the float64
// reference on odd sizes (T in {1, 3, 17, 65, 257}: partial key blocks, partial row groups,
// causal blocks straddling the diagonal; head_dim not a multiple of any vector). The kernels
// are linked in directly (attnbench_fused_kernels): the target override only reaches the
// dispatch tables of the binary that sets it. Plus: the projections (the kernels library's GEMM)
// at widths that need its k blocking, the workspace is O(T d), not O(T^2), and other block sizes
// (attention blocks and projection tasks) than the default compute the same attention. And the
// problems of ABI version 2 (grouped-query heads, sliding windows, the KV cache, the
// flash-decoding key split) against a float64 loop of their own below.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "fused_attention.h"
#include "hwy_targets.h"

using namespace attnbench;

namespace {

// Every variant x T x heads, with the other knobs (batch, head_dim, dropout, bias, causal
// override, threads) varied across the list so that each shows up in many combinations.
std::vector<ab_problem> OddProblems() {
  std::vector<ab_problem> out;
  int n = 0;
  for (Variant v : kAllVariants)
    for (int T : {1, 3, 17, 65, 257})
      for (int heads : {1, 3, 4, 12}) {
        static const int kHeadDims[] = {1, 3, 16, 7, 65, 8};
        const int hd = kHeadDims[n % 6];
        const int d_out = hd * heads;
        const int d_in = v == Variant::kSimplified ? d_out : 19 + n % 5;
        ab_problem p = MakeProblem(v, 1 + n % 2, T, d_in, d_out, heads);
        p.dropout_p = n % 2 == 1 ? 0.1f : 0.0f;
        p.dropout_seed = 11 + n;
        p.qkv_bias = p.qkv_proj && (n / 2) % 2 == 0;
        if (n % 5 == 2) p.causal = !p.causal;  // causal self / mha, unmasked causal
        p.threads = 1 + n % 2;
        out.push_back(p);
        ++n;
      }
  return out;
}

}  // namespace

TEST_CASE("fused kernels match the float64 reference on every compiled target") {
  test::CheckAgainstReferenceOnEveryTarget<FusedAttention>(test::MakeReferenceCases(OddProblems(), 5000, 13));
}

// The projections are the kernels library's GEMM (kernels/gemm-inl.h): widths past its k block
// (d_in, and d_out for the output projection, > 512: C accumulated over k blocks), widths that
// end in a partial 64-column panel, d_in != d_out, with and without bias, batched, and cut into
// column blocks per thread (B = 1, short T).
TEST_CASE("fused projections match the float64 reference at widths past one GEMM k block, on every target") {
  std::vector<ab_problem> problems;
  ab_problem mha = MakeProblem(Variant::kMha, 2, 17, 530, 520, 8);  // head_dim 65
  mha.qkv_bias = 1;
  mha.threads = 2;
  problems.push_back(mha);
  ab_problem self = MakeProblem(Variant::kCausal, 1, 33, 700, 70, 1);
  self.dropout_p = 0.1f;
  self.threads = 2;  // B = 1, T = 33 < one task: each thread takes a column block of every GEMM
  problems.push_back(self);
  ab_problem one_batch = MakeProblem(Variant::kMha, 1, 65, 600, 96, 3);
  one_batch.threads = 2;
  problems.push_back(one_batch);
  ab_problem narrow = MakeProblem(Variant::kMha, 3, 9, 5, 130, 10);  // d_in < d_out, head_dim 13
  narrow.threads = 2;
  problems.push_back(narrow);
  test::CheckAgainstReferenceOnEveryTarget<FusedAttention>(test::MakeReferenceCases(problems, 7000, 29));
}

TEST_CASE("fused compiles the scalar fallback and every x86 target the CPU supports") {
  test::CheckEveryTargetCompiled();
}

// Flash attention's point: no T x T buffer. Doubling T at most doubles the workspace (plus the
// constant per-thread scratch and packed weights), for every variant, causal or not.
TEST_CASE("fused workspace grows like T d, not T^2") {
  for (Variant v : kAllVariants)
    for (int causal : {0, 1}) {
      auto bytes = [&](int T) {
        ab_problem p = MakeProblem(v, 1, T, 768, 768, 12);
        p.causal = causal;
        p.threads = 2;
        // Only the constructor: it allocates everything (weights may be zeros here).
        std::vector<float> zeros(768 * 768, 0.0f), bias(768, 0.0f);
        ab_weights w{};
        if (p.qkv_proj) w = {zeros.data(), zeros.data(), zeros.data(), bias.data(), bias.data(), bias.data()};
        if (p.out_proj) w.w_o = zeros.data(), w.b_o = bias.data();
        return FusedAttention(p, w).WorkspaceBytes();
      };
      const size_t w4 = bytes(4096), w8 = bytes(8192);
      INFO(VariantName(v) << " causal " << causal << ": " << w4 << " bytes at T=4096, " << w8 << " at T=8192");
      CHECK(w8 <= 2.2 * w4);
      CHECK(w8 > w4);
      // And in absolute terms: far below one T x T float matrix per head.
      CHECK(w8 < size_t{8192} * 8192 * sizeof(float));
    }
}

// The block sizes are a constructor parameter (FusedBlocks, docs/fused.md): any positive choice
// computes the same attention, including blocks smaller than a row group or a vector and
// blocks larger than T. On the best target (the kernels do not depend on the blocks per target).
TEST_CASE("fused matches the float64 reference with other block sizes") {
  std::vector<test::ReferenceCase> cases;
  uint64_t seed = 9000;
  for (Variant v : kAllVariants)
    for (int T : {17, 130}) {
      const int heads = T == 17 ? 3 : 4, hd = T == 17 ? 7 : 16;
      ab_problem p = MakeProblem(v, 2, T, v == Variant::kSimplified ? hd * heads : 21, hd * heads, heads);
      p.dropout_p = T == 130 ? 0.1f : 0.0f;
      p.qkv_bias = p.qkv_proj;
      p.threads = 2;
      cases.push_back(test::MakeReferenceCase(p, seed += 17));
    }
  // The third number is the projection tasks' most rows: 1 (every row its own GEMM task, no
  // full register tile), 7 (rounded to 6: a task per tile), 13 (12), the default, more than T.
  for (const FusedBlocks blocks : {FusedBlocks{1, 1, 1}, FusedBlocks{5, 16, 7}, FusedBlocks{7, 40, 13},
                                   FusedBlocks{96, 128, 192}, FusedBlocks{200, 256, 1000}}) {
    for (const test::ReferenceCase& c : cases) {
      const ab_problem& p = c.data.problem;
      FusedAttention attention(p, c.data.Weights(), blocks);
      CHECK(attention.QueryBlock() == blocks.query_rows);
      CHECK(attention.KeyBlock() == (blocks.keys + 15) / 16 * 16);  // whole vectors of the widest target
      AlignedBuffer<float> out(OutputElems(p));
      Poison(out.data(), out.size());
      attention.Run(c.data.x.data(), out.data());
      const CheckResult r = CompareOutput(p, out.data(), c.ref);
      INFO("br " << blocks.query_rows << " bc " << blocks.keys << " gemm rows " << blocks.gemm_rows << " "
                 << Describe(p) << ": " << StatusName(r.status)
                 << " " << r.reason << " rel_l2 " << r.rel_l2_err << " (tol " << r.tol.rel_l2 << ")");
      CHECK((r.status == Status::kPass || r.status == Status::kMistrusted));
    }
  }
  const test::ReferenceCase& c = cases.front();
  CHECK_THROWS_AS(FusedAttention(c.data.problem, c.data.Weights(), FusedBlocks{0, 64}), std::invalid_argument);
  CHECK_THROWS_AS(FusedAttention(c.data.problem, c.data.Weights(), FusedBlocks{64, 0}), std::invalid_argument);
  CHECK_THROWS_AS(FusedAttention(c.data.problem, c.data.Weights(), FusedBlocks{64, 64, 0}), std::invalid_argument);
}

// ---- ABI version 2: grouped-query heads, sliding windows, KV-cache decoding ----------------

namespace {

// A version-2 problem with its inputs (drawn here: W_k, W_v are [d_in, kv_dim], the caches
// [B, kv_heads, past_len, head_dim]) and its float64 output, computed straight from
// backend_abi.h's definition: query t of batch b, head h (absolute position past_len + t) sees
// the keys [KeyBegin, KeyEnd) of KV head KvHeadOf(h), the cache's rows first; dropout keyed by
// (b, h, past_len + t, absolute key).
struct V2Case {
  ab_problem p{};
  AlignedBuffer<float> x, w_q, w_k, w_v, b_q, b_k, b_v, w_o, b_o, k_cache, v_cache;
  std::vector<double> ref;      // [B, T, d_out]
  double max_abs_score = 0.0;   // largest |scaled score| over visible entries

  ab_weights Weights() const {
    ab_weights w{};
    w.w_q = w_q.data(), w.w_k = w_k.data(), w.w_v = w_v.data();
    w.b_q = b_q.data(), w.b_k = b_k.data(), w.b_v = b_v.data();
    w.w_o = w_o.data(), w.b_o = b_o.data();
    w.k_cache = k_cache.data(), w.v_cache = v_cache.data();
    return w;
  }
};

AlignedBuffer<float> Draw(Rng& rng, size_t n, double stddev) {
  AlignedBuffer<float> buf(n);
  for (size_t i = 0; i < n; ++i) buf[i] = static_cast<float>(rng.Normal() * stddev);
  return buf;
}

// y[n] = x[k] . w[k, n] (+ bias), in double.
std::vector<double> Project(const float* x, const AlignedBuffer<float>& w, const AlignedBuffer<float>& bias, size_t k,
                            size_t n) {
  std::vector<double> y(n, 0.0);
  for (size_t c = 0; c < n && bias.size(); ++c) y[c] = bias[c];
  for (size_t i = 0; i < k; ++i)
    for (size_t c = 0; c < n; ++c) y[c] += static_cast<double>(x[i]) * w[i * n + c];
  return y;
}

void ComputeV2Reference(V2Case& c) {
  const ab_problem& p = c.p;
  const size_t T = p.seq_len, P = p.past_len, din = p.d_in, dout = p.d_out, hd = HeadDim(p), kvd = KvDim(p);
  const size_t keys = P + T;
  const double scale = ScoreScale(p), keep = 1.0 / (1.0 - static_cast<double>(p.dropout_p));
  const uint64_t threshold = ab_dropout_threshold(p.dropout_p);
  c.ref.assign(static_cast<size_t>(p.batch) * T * dout, 0.0);
  c.max_abs_score = 0.0;
  for (size_t b = 0; b < static_cast<size_t>(p.batch); ++b) {
    // Q [T, d_out]; K, V [keys, kv_dim]: the cache's rows (per KV head) then the new ones.
    std::vector<double> q(T * dout), k(keys * kvd), v(keys * kvd);
    for (size_t g = 0; g < static_cast<size_t>(p.kv_heads); ++g)
      for (size_t j = 0; j < P; ++j)
        for (size_t d = 0; d < hd; ++d) {
          const size_t src = ((b * p.kv_heads + g) * P + j) * hd + d;
          k[j * kvd + g * hd + d] = c.k_cache[src];
          v[j * kvd + g * hd + d] = c.v_cache[src];
        }
    for (size_t t = 0; t < T; ++t) {
      const float* xr = c.x.data() + (b * T + t) * din;
      std::vector<double> qr(dout), kr(kvd), vr(kvd);
      if (p.qkv_proj) {
        qr = Project(xr, c.w_q, c.b_q, din, dout);
        kr = Project(xr, c.w_k, c.b_k, din, kvd);
        vr = Project(xr, c.w_v, c.b_v, din, kvd);
      } else {
        for (size_t i = 0; i < din; ++i) qr[i] = kr[i] = vr[i] = xr[i];
      }
      std::copy(qr.begin(), qr.end(), q.begin() + t * dout);
      std::copy(kr.begin(), kr.end(), k.begin() + (P + t) * kvd);
      std::copy(vr.begin(), vr.end(), v.begin() + (P + t) * kvd);
    }
    std::vector<double> ctx(T * dout, 0.0);
    for (size_t h = 0; h < static_cast<size_t>(p.heads); ++h) {
      const size_t g = KvHeadOf(p, static_cast<int32_t>(h));
      for (size_t t = 0; t < T; ++t) {
        const size_t j0 = KeyBegin(p, t), j1 = KeyEnd(p, t);
        std::vector<double> w(j1 - j0);
        double m = -std::numeric_limits<double>::infinity();
        for (size_t j = j0; j < j1; ++j) {
          double acc = 0.0;
          for (size_t d = 0; d < hd; ++d) acc += q[t * dout + h * hd + d] * k[j * kvd + g * hd + d];
          w[j - j0] = acc * scale;
          m = std::max(m, w[j - j0]);
          c.max_abs_score = std::max(c.max_abs_score, std::abs(acc * scale));
        }
        double sum = 0.0;
        for (double& e : w) sum += (e = std::exp(e - m));
        const uint64_t row_key = ab_dropout_row_key(p.dropout_seed, b, h, P + t);
        for (size_t j = j0; j < j1; ++j) {
          double a = w[j - j0] / sum;
          if (threshold) a = ab_dropout_keep(row_key, j, threshold) ? a * keep : 0.0;
          for (size_t d = 0; d < hd; ++d) ctx[t * dout + h * hd + d] += a * v[j * kvd + g * hd + d];
        }
      }
    }
    for (size_t t = 0; t < T; ++t) {
      double* out = c.ref.data() + (b * T + t) * dout;
      if (!p.out_proj) {
        std::copy(ctx.begin() + t * dout, ctx.begin() + (t + 1) * dout, out);
        continue;
      }
      for (size_t o = 0; o < dout; ++o) out[o] = c.b_o[o];
      for (size_t i = 0; i < dout; ++i)
        for (size_t o = 0; o < dout; ++o) out[o] += ctx[t * dout + i] * c.w_o[i * dout + o];
    }
  }
}

// Inputs drawn like the harness's (scaled scores with a spread of a few units), the cache like
// the keys and values the projections give.
V2Case MakeV2Case(const ab_problem& p, uint64_t seed) {
  V2Case c;
  c.p = p;
  Rng rng(seed);
  const size_t din = p.d_in, dout = p.d_out, kvd = KvDim(p), hd = HeadDim(p);
  const size_t cache = CacheElems(p);
  if (p.qkv_proj) {
    c.x = Draw(rng, InputElems(p), 1.0);
    c.w_q = Draw(rng, din * dout, std::sqrt(2.0 / din));
    c.w_k = Draw(rng, din * kvd, std::sqrt(2.0 / din));
    c.w_v = Draw(rng, din * kvd, std::sqrt(1.0 / din));
    if (p.qkv_bias) c.b_q = Draw(rng, dout, 0.5), c.b_k = Draw(rng, kvd, 0.5), c.b_v = Draw(rng, kvd, 0.5);
    c.k_cache = Draw(rng, cache, std::sqrt(2.0));
    c.v_cache = Draw(rng, cache, 1.0);
  } else {  // unscaled x . x: a spread of ~1.5 between different rows
    const double sd = std::sqrt(1.5 / std::sqrt(static_cast<double>(hd)));
    c.x = Draw(rng, InputElems(p), sd);
    c.k_cache = Draw(rng, cache, sd);
    c.v_cache = Draw(rng, cache, sd);
  }
  if (p.out_proj) c.w_o = Draw(rng, dout * dout, std::sqrt(1.0 / dout)), c.b_o = Draw(rng, dout, 0.5);
  ComputeV2Reference(c);
  return c;
}

// The harness's tolerance (validate.h) with the attention's reduction over every key the row
// may see (past_len + T): relative L2 error <= 16 u sqrt(L) (1 + S), max abs <= 8 tol max|ref|.
// Every output element written (poisoned before) and finite.
void CheckV2(const V2Case& c, const float* out, const std::string& label) {
  const ab_problem& p = c.p;
  const double L = (p.qkv_proj ? p.d_in : 0) + HeadDim(p) + p.past_len + p.seq_len + (p.out_proj ? p.d_out : 0);
  const double tol = 16.0 * 0x1.0p-24 * std::sqrt(L) * (1.0 + c.max_abs_score);
  double err2 = 0.0, ref2 = 0.0, max_err = 0.0, max_ref = 0.0;
  size_t bad = 0;
  for (size_t i = 0; i < c.ref.size(); ++i) {
    if (!std::isfinite(out[i])) {  // the poison is a NaN: unwritten counts here too
      ++bad;
      continue;
    }
    const double e = std::abs(out[i] - c.ref[i]);
    err2 += e * e;
    ref2 += c.ref[i] * c.ref[i];
    max_err = std::max(max_err, e);
    max_ref = std::max(max_ref, std::abs(c.ref[i]));
  }
  const double rel = std::sqrt(err2 / std::max(ref2, 1e-300));
  INFO(label << " " << Describe(p) << ": rel_l2 " << rel << " (tol " << tol << "), max_abs " << max_err << " (tol "
             << 8 * tol * max_ref << "), " << bad << " unwritten or non-finite");
  CHECK(bad == 0);
  CHECK(rel <= tol);
  CHECK(max_err <= 8.0 * tol * max_ref);
  CHECK(ref2 > 0.0);
}

void RunV2(const V2Case& c, const FusedBlocks& blocks, const std::string& label) {
  FusedAttention attention(c.p, c.Weights(), blocks);
  AlignedBuffer<float> out(OutputElems(c.p));
  for (int run = 0; run < 2; ++run) {  // the second run sees the same cache: Run must not change it
    Poison(out.data(), out.size());
    attention.Run(c.x.data(), out.data());
    CheckV2(c, out.data(), label + " run " + std::to_string(run));
  }
}

// Grouped-query (kv_heads 1, 2, 3 of 6 heads, and MHA), windows (1 key, shorter than a block,
// across blocks), caches (1, 5, 1000 rows: within the first key block, straddling blocks),
// odd T and head_dim, every variant that may carry each form, bias and dropout varied.
std::vector<ab_problem> V2Problems() {
  std::vector<ab_problem> out;
  int n = 0;
  for (int T : {1, 3, 17, 65})
    for (int kv_heads : {1, 2, 3, 6})
      for (int past : {0, 1, 5, 1000}) {
        const int window = std::array<int, 4>{0, 1, 4, 16}[(n + T) % 4];
        const Variant v = std::array<Variant, 3>{Variant::kMha, Variant::kCausal, Variant::kSelf}[n % 3];
        const int hd = std::array<int, 3>{7, 16, 3}[n % 3];
        ab_problem p = MakeProblem(v, 1 + n % 2, T, 24 + 16 * (n % 2), 6 * hd, 6);
        p.kv_heads = kv_heads;
        p.past_len = past;
        p.window = p.causal ? window : 0;
        p.qkv_bias = n % 3 != 1;
        p.dropout_p = n % 4 == 1 ? 0.3f : 0.0f;
        p.dropout_seed = 5 + n;
        p.threads = 1 + n % 2;
        ++n;
        if (T == 65 && past == 1000) continue;  // the slowest reference; 65 rows are covered at past 0, 1, 5
        out.push_back(p);
      }
  // Simplified attention (no weights, so kv_heads == heads) with a cache, causal and not.
  for (int causal : {0, 1}) {
    ab_problem p = MakeProblem(Variant::kSimplified, 2, 5, 12, 12, 3);
    p.causal = causal;
    p.past_len = 70;
    p.window = causal ? 9 : 0;
    p.threads = 2;
    out.push_back(p);
  }
  return out;
}

}  // namespace

TEST_CASE("fused matches a float64 loop on grouped-query heads, windows and the KV cache, on every target") {
  // Drawn once: Catch2 runs the test case again for each target's section.
  static const std::vector<V2Case> cases = [] {
    std::vector<V2Case> all;
    uint64_t seed = 31000;
    for (const ab_problem& p : V2Problems()) all.push_back(MakeV2Case(p, seed += 7));
    return all;
  }();
  test::ForEachTarget([&](const std::string& name) {
    for (const V2Case& c : cases) RunV2(c, FusedBlocks{}, name);
  });
}

// Small blocks, so that a window spans several key blocks and a group several positions; the
// key split forced (chunks that are empty, one block, many blocks), on one thread and two, and
// chosen by itself for decoding on two threads.
TEST_CASE("fused computes the same attention with other block sizes and with the keys split into chunks") {
  std::vector<V2Case> cases;
  uint64_t seed = 32000;
  for (int window : {0, 5, 40}) {
    ab_problem p = MakeProblem(Variant::kMha, 2, 23, 20, 36, 6);  // head_dim 6
    p.kv_heads = 2;
    p.past_len = 77;
    p.window = window;
    p.qkv_bias = 1;
    p.dropout_p = window == 5 ? 0.2f : 0.0f;
    p.dropout_seed = 3;
    for (int threads : {1, 2}) {
      p.threads = threads;
      cases.push_back(MakeV2Case(p, seed += 11));
    }
  }
  for (const FusedBlocks blocks : {FusedBlocks{1, 1, 1}, FusedBlocks{7, 16, 7}, FusedBlocks{12, 32, 192, 3},
                                   FusedBlocks{64, 64, 192, 2}, FusedBlocks{5, 16, 13, 9}, FusedBlocks{64, 128, 192, 40}})
    for (const V2Case& c : cases) {
      FusedAttention attention(c.p, c.Weights(), blocks);
      if (blocks.key_chunks) CHECK(attention.KeyChunks() == blocks.key_chunks);
      RunV2(c, blocks, "br " + std::to_string(blocks.query_rows) + " bc " + std::to_string(blocks.keys) + " chunks " +
                           std::to_string(blocks.key_chunks));
    }

  // Decoding one token against a long cache with one KV head: one query task per batch, so on two
  // threads the keys are split (flash-decoding) without being asked.
  ab_problem decode = MakeProblem(Variant::kMha, 1, 1, 40, 64, 4);
  decode.kv_heads = 1;
  decode.past_len = 3000;
  decode.threads = 2;
  decode.dropout_p = 0.1f;
  const V2Case c = MakeV2Case(decode, 33000);
  CHECK(FusedAttention(decode, c.Weights()).KeyChunks() > 1);
  RunV2(c, FusedBlocks{}, "decode");
  decode.threads = 1;  // one thread: nothing to balance, no split
  CHECK(FusedAttention(decode, c.Weights()).KeyChunks() == 1);
}
