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
// flash-decoding key split) against the same float64 reference.
#include <catch2/catch.hpp>

#include <array>
#include <cstring>
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
  CHECK_THROWS_AS(FusedAttention(c.data.problem, c.data.Weights(), FusedBlocks{64, 64, 0}), std::invalid_argument);
  // 0 rows or keys: chosen from the head's width. 64 x 64 up to 128 wide; from 256 on, one
  // register tile of keys (16 on AVX2, 64 on AVX-512), and 128 rows when that leaves 4 tasks per
  // thread (T = 512: for one thread, not for two).
  for (const int32_t width : {64, 128, 256, 768}) {
    ab_problem p = MakeProblem(Variant::kSelf, 1, 512, 40, width, 1);
    p.threads = 1;
    const test::ReferenceCase wc = test::MakeReferenceCase(p, 36000 + width);
    const FusedAttention chosen(p, wc.data.Weights(), FusedBlocks{0, 0});
    INFO("head_dim " << width);
    CHECK(chosen.QueryBlock() == (width >= 256 ? 128u : 64u));
    p.threads = 2;
    CHECK(FusedAttention(p, wc.data.Weights(), FusedBlocks{0, 0}).QueryBlock() == 64);
    CHECK(chosen.KeyBlock() == (width >= 256 ? chosen.TileColumns() : 64u));
    CHECK((chosen.TileColumns() == 16 || chosen.TileColumns() == 64));
    CHECK(FusedAttention(p, wc.data.Weights(), FusedBlocks{48, 0}).QueryBlock() == 48);
    CHECK(FusedAttention(p, wc.data.Weights(), FusedBlocks{0, 32}).KeyBlock() == 32);
  }
}

// ---- ABI version 2: grouped-query heads, sliding windows, KV-cache decoding ----------------

namespace {

// Grouped-query (kv_heads 1, 2, 3 of 6 heads, and MHA), windows (1 key, shorter than a vector,
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

// Runs the case twice on one state (the second run sees the same cache: Run must not change it)
// and CHECKs each output against the float64 reference.
void RunTwiceAndCheck(const test::ReferenceCase& c, const FusedBlocks& blocks, const std::string& label) {
  const ab_problem& p = c.data.problem;
  FusedAttention attention(p, c.data.Weights(), blocks);
  if (blocks.key_chunks) CHECK(attention.KeyChunks() == blocks.key_chunks);
  AlignedBuffer<float> out(OutputElems(p));
  for (int run = 0; run < 2; ++run) {
    Poison(out.data(), out.size());
    attention.Run(c.data.x.data(), out.data());
    const CheckResult r = CompareOutput(p, out.data(), c.ref);
    INFO(label << " run " << run << " " << Describe(p) << ": " << StatusName(r.status) << " " << r.reason << " rel_l2 "
               << r.rel_l2_err << " (tol " << r.tol.rel_l2 << "), max_abs " << r.max_abs_err << " (tol "
               << r.tol.max_abs << ")");
    CHECK((r.status == Status::kPass || r.status == Status::kMistrusted));
  }
}

}  // namespace

TEST_CASE("fused matches the float64 reference on grouped-query heads, windows and the KV cache, on every target") {
  // Drawn once: Catch2 runs the test case again for each target's section.
  static const std::vector<test::ReferenceCase> cases = test::MakeReferenceCases(V2Problems(), 31000, 7);
  test::ForEachTarget([&](const std::string& name) {
    CHECK(std::string(FusedAttention::TargetName()) == name);
    for (const test::ReferenceCase& c : cases) RunTwiceAndCheck(c, FusedBlocks{}, name);
  });
}

// Small blocks, so that a window spans several key blocks and a task's row group several
// positions; the key split forced (chunks that are empty, one block, many blocks), on one thread
// and two, and chosen by itself for decoding on two threads.
TEST_CASE("fused computes the same attention with other block sizes and with the keys split into chunks") {
  std::vector<ab_problem> problems;
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
      problems.push_back(p);
    }
  }
  const std::vector<test::ReferenceCase> cases = test::MakeReferenceCases(problems, 32000, 11);
  for (const FusedBlocks blocks : {FusedBlocks{1, 1, 1}, FusedBlocks{7, 16, 7}, FusedBlocks{12, 32, 192, 3},
                                   FusedBlocks{64, 64, 192, 2}, FusedBlocks{5, 16, 13, 9}, FusedBlocks{64, 128, 192, 40}})
    for (const test::ReferenceCase& c : cases)
      RunTwiceAndCheck(c, blocks, "br " + std::to_string(blocks.query_rows) + " bc " + std::to_string(blocks.keys) +
                                      " chunks " + std::to_string(blocks.key_chunks));

  // Decoding one token against a long cache with one KV head: one query task, so on two threads
  // the keys are split (flash-decoding) without being asked.
  ab_problem decode = MakeProblem(Variant::kMha, 1, 1, 40, 64, 4);
  decode.kv_heads = 1;
  decode.past_len = 3000;
  decode.threads = 2;
  decode.dropout_p = 0.1f;
  const test::ReferenceCase c = test::MakeReferenceCase(decode, 33000);
  CHECK(FusedAttention(decode, c.data.Weights()).KeyChunks() > 1);
  RunTwiceAndCheck(c, FusedBlocks{}, "decode");
  decode.threads = 1;  // one thread: nothing to balance, no split
  CHECK(FusedAttention(decode, c.data.Weights()).KeyChunks() == 1);

  // One wide head (the book's single-head variants): 4 query tasks (too few for 128-row ones),
  // which two threads balance only with the keys split; a 256-wide head's chunk may be as short
  // as 64 keys (4 blocks of AVX2's 16, 1 of AVX-512's 64): 2 chunks either way. A 64-wide one's
  // chunk is 4 blocks of 64 keys at least: none.
  ab_problem wide = MakeProblem(Variant::kSelf, 1, 256, 40, 256, 1);
  wide.threads = 2;
  const test::ReferenceCase w = test::MakeReferenceCase(wide, 35000);
  CHECK(FusedAttention(wide, w.data.Weights()).KeyChunks() == 2);
  RunTwiceAndCheck(w, FusedBlocks{}, "wide head");
  ab_problem narrow = MakeProblem(Variant::kSelf, 1, 256, 40, 64, 1);
  narrow.threads = 2;
  CHECK(FusedAttention(narrow, test::MakeReferenceCase(narrow, 35001).data.Weights()).KeyChunks() == 1);
}

// The profiled Run (FusedPhaseTimes, for tools/fused_microbench's FusedPhases) makes its loops'
// barriers explicit; it must compute exactly what the plain Run computes, on every path the
// barriers guard: row tasks that pack their own K/V (T = 300), the column split with packing
// after the GEMMs (T = 17, two threads), rows spanning batches (B = 3, T = 5), the key chunks
// and their merge (decoding), no projections (simplified).
TEST_CASE("fused's profiled run computes the plain run's output bit for bit and times every phase") {
  std::vector<ab_problem> problems;
  for (int T : {300, 17}) problems.push_back(MakeProblem(Variant::kMha, 1, T, 48, 48, 4));
  problems.push_back(MakeProblem(Variant::kMha, 3, 5, 40, 32, 2));
  ab_problem decode = MakeProblem(Variant::kMha, 1, 1, 40, 64, 4);
  decode.kv_heads = 1;
  decode.past_len = 3000;
  problems.push_back(decode);
  problems.push_back(MakeProblem(Variant::kSimplified, 2, 65, 24, 24, 3));
  for (ab_problem p : problems)
    for (int threads : {1, 2}) {
      p.threads = threads;
      const test::ReferenceCase c = test::MakeReferenceCase(p, 34000 + p.seq_len);
      FusedAttention attention(p, c.data.Weights());
      AlignedBuffer<float> plain(OutputElems(p)), profiled(OutputElems(p));
      FusedPhaseTimes times;
      attention.Run(c.data.x.data(), plain.data());
      for (int run = 0; run < 2; ++run) {
        Poison(profiled.data(), profiled.size());
        attention.Run(c.data.x.data(), profiled.data(), &times);
        INFO(Describe(p) << " run " << run);
        CHECK(std::memcmp(plain.data(), profiled.data(), plain.size() * sizeof(float)) == 0);
      }
      INFO(Describe(p) << " chunks " << attention.KeyChunks());
      CHECK(times.runs == 2);
      REQUIRE(times.threads.size() == static_cast<size_t>(threads));
      double work = 0;
      for (const auto& t : times.threads)
        for (int ph = 0; ph < FusedPhaseTimes::kPhases; ++ph) {
          CHECK(t.work[ph] >= 0);
          CHECK(t.wait[ph] >= 0);
          work += t.work[ph];
        }
      CHECK(work > 0);
    }
}
