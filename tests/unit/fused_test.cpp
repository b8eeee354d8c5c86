// The fused (flash-style) kernels on every SIMD target this binary compiled and this CPU runs
// (AVX3, AVX2, SSE4, SSSE3, the scalar fallback, ...): each target is forced with
// hwy::SetSupportedTargetsForTest and the whole attention is checked against the float64
// reference on odd sizes (T in {1, 3, 17, 65, 257}: partial key blocks, partial row groups,
// causal blocks straddling the diagonal; head_dim not a multiple of any vector). The kernels
// are linked in directly (attnbench_fused_kernels): the target override only reaches the
// dispatch tables of the binary that sets it. Plus: the projections (the kernels library's GEMM)
// at widths that need its k blocking, the workspace is O(T d), not O(T^2), and other block sizes
// (attention blocks and projection tasks) than the default compute the same attention.
#include <catch2/catch.hpp>

#include <stdexcept>
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
