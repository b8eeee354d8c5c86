// The fused (flash-style) kernels on every SIMD target this binary compiled and this CPU runs
// (AVX3, AVX2, SSE4, SSSE3, the scalar fallback, ...): each target is forced with
// hwy::SetSupportedTargetsForTest and the whole attention is checked against the float64
// reference on odd sizes (T in {1, 3, 17, 65, 257}: partial key blocks, partial row groups,
// causal blocks straddling the diagonal; head_dim not a multiple of any vector). The kernels
// are linked in directly (attnbench_fused_kernels): the target override only reaches the
// dispatch tables of the binary that sets it. Plus: the workspace is O(T d), not O(T^2).
#include <catch2/catch.hpp>

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
  const std::vector<ab_problem> problems = OddProblems();
  std::vector<test::ReferenceCase> cases;
  for (size_t i = 0; i < problems.size(); ++i) cases.push_back(test::MakeReferenceCase(problems[i], 5000 + 13 * i));
  test::CheckAgainstReferenceOnEveryTarget<FusedAttention>(cases);
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
