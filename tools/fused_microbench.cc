// The fused backend's micro-kernels (backends/fused/fused-inl.h), each timed alone on
// L1-resident data on every Highway target this CPU runs, and the whole FusedAttention over
// query / key block sizes (docs/fused.md, "Block sizes" and "Profile"), and the projections'
// GEMM (kernels/gemm-inl.h) on each target, beside the system BLAS's SGEMM on the same shapes
// (Sgemm/openblas/rows:<M>/n:<N>, one thread). Google Benchmark:
//   build/bin/fused_microbench                               # everything
//   build/bin/fused_microbench --benchmark_filter=SubSum     # Exp2SubSum vs hn::Exp on each target
//   build/bin/fused_microbench --benchmark_filter='FusedAttention/br:96'
//   build/bin/fused_microbench --benchmark_filter='Gemm/AVX3'         # GFLOP/s of the GEMM alone
//   build/bin/fused_microbench --benchmark_filter='GemmThreads'       # the same on 2 threads, split as fused splits it
//   build/bin/fused_microbench --benchmark_filter='Decode/.*/P:4096'  # decoding, split in phases
//   build/bin/fused_microbench --benchmark_filter='FusedPhases/variant:3/T:1024/threads:2'  # MHA's phases in the run
// Micro-kernels: one row group (kGroup = 6 query rows) against one key block of bc keys,
// head_dim 64, named <kernel>/<TARGET>/bc:<keys>. The whole attention: simplified causal,
// T = 2048, H = 12, d = 768, one thread, on the best target, named FusedAttention/br:<rows>/bc:<keys>.
// Decoding (one token per batch against a KV cache, Llama-like heads: d = 4096, H = 32, 8 KV
// heads), whole and in its two phases, named Decode/<phase>/B:<batch>/P:<past_len>/threads:<n>.
// A whole run with each phase timed inside it, named FusedPhases/variant:<v>/T:<T>/threads:<n>
// (v = 0 simplified, 1 self, 2 causal, 3 mha; d = 768).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tools/fused_microbench.cc"
#include "hwy/foreach_target.h"  // must come before highway.h

#include <benchmark/benchmark.h>
#include <omp.h>

#include "fused-inl.h"
#include "hwy/highway.h"
#include "kernels/gemm-inl.h"
#include "kernels/pack.h"

HWY_BEFORE_NAMESPACE();
namespace attnbench {
namespace HWY_NAMESPACE {

constexpr size_t kR = FusedState::kGroup;
constexpr size_t kHeadDim = 64;

// The operands of one GroupBlock, filled with small values (no overflow, no subnormals).
struct GroupData {
  explicit GroupData(size_t bc)
      : q(kR * kHeadDim), kt(kHeadDim * bc), v(bc * hd_pad), o(kR * hd_pad), s(kR * bc) {
    for (size_t i = 0; i < q.size(); ++i) q[i] = 0.01f * static_cast<float>(i % 7);
    for (size_t i = 0; i < kt.size(); ++i) kt[i] = 0.02f * static_cast<float>(i % 5);
    for (size_t i = 0; i < v.size(); ++i) v[i] = 0.03f * static_cast<float>(i % 3);
    o.Fill(0.0f);
    s.Fill(0.0f);
    st.p.seq_len = static_cast<int32_t>(bc);
    st.head_dim = kHeadDim;
    st.hd_pad = hd_pad;
    st.bc = bc;
    st.br = kR;
    for (size_t r = 0; r < kR; ++r) m[r] = 0.0f, alpha[r] = 1.0f, bmax[r] = 0.0f;
    for (float& sum : l) sum = 1.0f;
    g.q = q.data();
    g.kt = kt.data();
    g.ldkt = bc;
    g.v = v.data();
    g.o = o.data();
    g.s = s.data();
    g.m = m;
    g.l = l;
    g.alpha = alpha;
    g.bmax = bmax;
    for (size_t r = 0; r < kR; ++r) g.lo[r] = 0.0f, g.lim[r] = static_cast<float>(bc), g.row_key[r] = 0;
    g.skip = 0;
    g.width = bc;
    g.mask = false;
    g.key0 = 0;
  }

  static constexpr size_t hd_pad = kHeadDim;  // a multiple of 16 already
  AlignedBuffer<float> q, kt, v, o, s;
  float m[kR], alpha[kR], bmax[kR];
  alignas(64) float l[kR * FusedState::kPad];  // GroupArgs::l: lane sums per row
  FusedState st;
  GroupArgs g{};
};

// Each kernel in its own non-inlined function, as GroupBlock calls them (inlined into one big
// switch the compiler spills the score tile's accumulators, which the real kernel never does).
template <class D>
HWY_NOINLINE void ScoreBlock(D d, const GroupArgs& g, size_t bc) {
  const size_t N = hn::Lanes(d), vecs = bc / N;
  size_t vec = 0;
  for (; vec + kMatMulColVecs <= vecs; vec += kMatMulColVecs)
    ScoreTile<kR, kMatMulColVecs>(d, g.q, kHeadDim, g.kt, bc, vec * N, g.s, bc, g.lo, g.lim, false, g.bmax);
  for (; vec < vecs; ++vec) ScoreTile<kR, 1>(d, g.q, kHeadDim, g.kt, bc, vec * N, g.s, bc, g.lo, g.lim, false, g.bmax);
}
template <class D, class ExpFn>
HWY_NOINLINE void ExpBlock(D d, const GroupArgs& g, size_t bc, ExpFn exp_fn) {
  for (size_t r = 0; r < kR; ++r) g.l[r] += SubExpSum(d, g.s + r * bc, bc, 1.0f, exp_fn);
}
template <class D>
HWY_NOINLINE void PvBlock(D d, const GroupArgs& g, size_t hd_pad, size_t bc) {
  const size_t N = hn::Lanes(d), vecs = hd_pad / N;
  size_t ov = 0;
  for (; ov + kMatMulColVecs <= vecs; ov += kMatMulColVecs)
    PvTile<kR, kMatMulColVecs>(d, g.s, bc, bc, g.v, hd_pad, ov * N, g.o, hd_pad, g.alpha);
  for (; ov < vecs; ++ov) PvTile<kR, 1>(d, g.s, bc, bc, g.v, hd_pad, ov * N, g.o, hd_pad, g.alpha);
}

// Every timed loop runs inside the target's own code: one dispatch per benchmark run, not per call.
template <class Kernel>
void TimeKernel(benchmark::State& state, const Kernel& kernel) {
  const size_t bc = static_cast<size_t>(state.range(0));
  GroupData data(bc);
  for (auto _ : state) {
    kernel(data, bc);
    benchmark::DoNotOptimize(data.s.data());
    benchmark::DoNotOptimize(data.o.data());
    benchmark::ClobberMemory();  // keep every repetition
  }
}

// Reported as FLOPS (per second) for the tiles, items (exps) per second for the softmax pass.
void CountFlops(benchmark::State& state, double per_call) {
  state.counters["FLOPS"] = benchmark::Counter(per_call, benchmark::Counter::kIsIterationInvariantRate);
}
void CountExps(benchmark::State& state) { state.SetItemsProcessed(state.iterations() * kR * state.range(0)); }

void BenchScoreTile(benchmark::State& state) {
  const hn::ScalableTag<float> d;
  TimeKernel(state, [&](GroupData& x, size_t bc) { ScoreBlock(d, x.g, bc); });
  CountFlops(state, 2.0 * kR * state.range(0) * kHeadDim);
}
void BenchExp2Sum(benchmark::State& state) {
  const hn::ScalableTag<float> d;
  TimeKernel(state, [&](GroupData& x, size_t bc) { ExpBlock(d, x.g, bc, Exp2Op()); });
  CountExps(state);
}
void BenchHwyExpSum(benchmark::State& state) {
  const hn::ScalableTag<float> d;
  TimeKernel(state, [&](GroupData& x, size_t bc) { ExpBlock(d, x.g, bc, ExpOp()); });
  CountExps(state);
}
void BenchPvTile(benchmark::State& state) {
  const hn::ScalableTag<float> d;
  TimeKernel(state, [&](GroupData& x, size_t bc) { PvBlock(d, x.g, x.hd_pad, bc); });
  CountFlops(state, 2.0 * kR * state.range(0) * kHeadDim);
}
void BenchGroupBlock(benchmark::State& state) {
  const hn::ScalableTag<float> d;
  TimeKernel(state, [&](GroupData& x, size_t) { GroupBlock<kR>(d, x.st, x.g); });
  CountFlops(state, 4.0 * kR * state.range(0) * kHeadDim);
}

// The operands of one GEMM C[rows, n] = A[rows, 768] . B, B packed in groups of `group` columns
// (kernels/pack.h), allocated once: after the first iteration A and C sit in L2 and B (6.75 MiB
// at n = 2304) in L3, as in a Run.
struct GemmOperands {
  static constexpr size_t k = 768;
  size_t rows, n;
  AlignedBuffer<float> a, b, packed, bias, c;
  GemmArgs m;
  GemmOperands(size_t rows_, size_t n_, size_t group)
      : rows(rows_), n(n_), a(rows * k), b(k * n), packed(PackedGemmFloats(k, n)),
        bias(GemmPanels(n) * kGemmPanel), c(rows * n) {
    for (size_t i = 0; i < a.size(); ++i) a[i] = 0.01f * static_cast<float>(i % 7);
    for (size_t i = 0; i < b.size(); ++i) b[i] = 0.02f * static_cast<float>(i % 5);
    PackGemmB(b.data(), n, k, n, packed.data(), group);
    PackGemmBias(nullptr, n, bias.data());
    m.a = a.data(), m.lda = k, m.b = packed.data(), m.group = group, m.bias = bias.data(), m.c = c.data(), m.ldc = n;
    m.k = k, m.n = n;
  }
  double Flops() const { return 2.0 * rows * k * n; }
};

// The projections' GEMM (kernels/gemm-inl.h) alone, one thread, as one task (rows and all
// panels): the shapes of fused's projection tasks at d = 768 (n = 2304: QKV; n = 768: output).
void BenchGemm(benchmark::State& state) {
  const hn::ScalableTag<float> d;
  GemmOperands g(static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1)),
                 static_cast<size_t>(state.range(2)));
  for (auto _ : state) {
    Gemm(d, g.m, GemmBlock{0, g.rows, 0, GemmPanels(g.n)});
    benchmark::DoNotOptimize(g.c.data());
    benchmark::ClobberMemory();
  }
  CountFlops(state, g.Flops());
}

// The same GEMM on two threads (one OpenMP region per iteration, as fused's Run), B in this
// target's group: split 0 cuts the panels in two (fused's column split at T <= 192), split 1
// the rows (whole register tiles). Real time: what the slower thread takes.
void BenchGemmThreads(benchmark::State& state) {
  const hn::ScalableTag<float> d;
  GemmOperands g(static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1)),
                 kGemmColVecs * hn::Lanes(d));
  const bool split_rows = state.range(2) != 0;
  const size_t rows = g.rows, panels = GemmPanels(g.n);
  const size_t half_rows = (rows / 2 + kGemmRows - 1) / kGemmRows * kGemmRows;
  for (auto _ : state) {
#pragma omp parallel num_threads(2)
    {
      const size_t t = static_cast<size_t>(omp_get_thread_num());
      const GemmBlock blk = split_rows ? GemmBlock{t ? half_rows : 0, t ? rows : half_rows, 0, panels}
                                       : GemmBlock{0, rows, panels * t / 2, panels * (t + 1) / 2};
      Gemm(d, g.m, blk);
    }
    benchmark::DoNotOptimize(g.c.data());
    benchmark::ClobberMemory();
  }
  CountFlops(state, g.Flops());
}

}  // namespace HWY_NAMESPACE
}  // namespace attnbench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include <algorithm>
#include <string>
#include <vector>

#include <cblas.h>

#include "fused_attention.h"

namespace attnbench {
namespace {

HWY_EXPORT(BenchScoreTile);
HWY_EXPORT(BenchExp2Sum);
HWY_EXPORT(BenchHwyExpSum);
HWY_EXPORT(BenchPvTile);
HWY_EXPORT(BenchGroupBlock);
HWY_EXPORT(BenchGemm);
HWY_EXPORT(BenchGemmThreads);

// Registers kernel once per target as <name>/<TARGET>, each run forced to that target.
template <class Kernel>
void RegisterPerTarget(const char* name, Kernel kernel) {
  for (const int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const std::string full = std::string(name) + "/" + hwy::TargetName(target);
    benchmark::RegisterBenchmark(full.c_str(), [target, kernel](benchmark::State& state) {
      hwy::SetSupportedTargetsForTest(target);
      kernel(state);
      hwy::SetSupportedTargetsForTest(0);
    })
        ->ArgName("bc")
        ->Arg(32)
        ->Arg(64)
        ->Arg(128);
  }
}

// The whole attention phase on one thread with the given block sizes (the projections do not
// depend on them, so the simplified variant, which has none, isolates what they change).
void BenchFusedAttention(benchmark::State& state) {
  // Third argument: heads (12: head_dim 64, the book's MHA; 1: one head of 768, the single-head
  // variants and the heads sweep's H = 1) -- a wide head's K^T and V blocks are 12x larger.
  const int32_t heads = state.range(2) > 0 ? static_cast<int32_t>(state.range(2)) : 12;
  ab_problem p = MakeProblem(Variant::kSimplified, 1, heads == 12 ? 2048 : 1024, 768, 768, heads);
  p.causal = 1;
  p.threads = 1;
  AlignedBuffer<float> x(static_cast<size_t>(p.batch) * p.seq_len * p.d_in), out(OutputElems(p));
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.01f * static_cast<float>(static_cast<int>(i % 201) - 100);
  const FusedBlocks blocks{static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1))};
  FusedAttention attention(p, ab_weights{}, blocks);
  for (auto _ : state) {
    attention.Run(x.data(), out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

// Where the time of a whole fused run goes (docs/fused.md, "Session 9"): the book's variant
// (simplified, self, causal, mha), T and the threads from the arguments, B = 1, d = 768 (mha:
// H = 12), on the best target. Run with FusedPhaseTimes; counters per run: each phase's wall
// time (a thread's work plus its wait at the barrier after it: the same for every thread), the
// GFLOP/s of that wall time, its mean wait at that barrier, and the share of all the threads'
// time spent waiting at barriers.
//   qkv    X . [W_q | W_k | W_v] and the packing of K^T and V   2 T d (3 d) FLOPs (0 for simplified)
//   attn   scores and P . V, causal counted once               4 (T^2, or T (T + 1) / 2 causal) d
//   out    ctx . W_o (mha)                                      2 T d d
void BenchFusedPhases(benchmark::State& state) {
  const Variant variant = kAllVariants[state.range(0)];
  ab_problem p = MakeProblem(variant, 1, static_cast<int32_t>(state.range(1)), 768, 768, variant == Variant::kMha ? 12 : 1);
  p.threads = static_cast<int32_t>(state.range(2));
  const double d = p.d_in, T = p.seq_len;
  AlignedBuffer<float> x(InputElems(p)), w_q(p.d_in * p.d_out), w_k(w_q.size()), w_v(w_q.size()),
      w_o(static_cast<size_t>(p.d_out) * p.d_out), b_o(p.d_out), out(OutputElems(p));
  const auto fill = [](AlignedBuffer<float>& b, float scale) {  // small values: no overflow, no subnormals
    for (size_t i = 0; i < b.size(); ++i) b[i] = scale * static_cast<float>(static_cast<int>(i % 13) - 6);
  };
  fill(x, 0.1f), fill(w_q, 0.01f), fill(w_k, 0.01f), fill(w_v, 0.01f), fill(w_o, 0.01f), fill(b_o, 0.1f);
  ab_weights w{};
  if (p.qkv_proj) w.w_q = w_q.data(), w.w_k = w_k.data(), w.w_v = w_v.data();
  if (p.out_proj) w.w_o = w_o.data(), w.b_o = b_o.data();
  FusedAttention attention(p, w);
  attention.Run(x.data(), out.data());  // first touch of the buffers, untimed
  FusedPhaseTimes times;
  for (auto _ : state) {
    attention.Run(x.data(), out.data(), &times);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  const double pairs = p.causal ? T * (T + 1) / 2 : T * T;
  const double flops[FusedPhaseTimes::kPhases] = {p.qkv_proj ? 2 * T * d * 3 * d : 0, 4 * pairs * d,
                                                  p.out_proj ? 2 * T * d * d : 0};
  const char* names[FusedPhaseTimes::kPhases] = {"qkv", "attn", "out"};
  double waited = 0, total = 0;
  for (int ph = 0; ph < FusedPhaseTimes::kPhases; ++ph) {
    double wall = 0, wait = 0;  // means over the threads of work + wait (the phase's wall time) and of wait
    for (const auto& t : times.threads) {
      wall += (t.work[ph] + t.wait[ph]) / static_cast<double>(times.threads.size());
      wait += t.wait[ph] / static_cast<double>(times.threads.size());
      waited += t.wait[ph];
      total += t.work[ph] + t.wait[ph];
    }
    const double per_run = wall / static_cast<double>(times.runs);
    state.counters[std::string(names[ph]) + "_ms"] = per_run * 1e3;
    state.counters[std::string(names[ph]) + "_wait_ms"] = wait / static_cast<double>(times.runs) * 1e3;
    if (flops[ph] > 0) state.counters[std::string(names[ph]) + "_GFLOPs"] = flops[ph] / per_run * 1e-9;
  }
  state.counters["wait_pct"] = total > 0 ? 100.0 * waited / total : 0.0;
  state.counters["GFLOPs"] =
      benchmark::Counter((flops[0] + flops[1] + flops[2]) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Decoding one token per batch element (T = 1) against a cache of P keys, d = 4096, H = 32,
// kv_heads = 8, on the best target, in three forms that split the work into its phases:
//   whole        mha: the QKV projection of the token (4096 x 6144 weights, 100 MB), the pass
//                over the cache, the output projection (4096 x 4096, 67 MB)
//   projections  the same with P = 0 (registered as P:0 only): the two weight reads and a
//                one-key attention
//   cache        causal attention with d_in = 1 and no output projection: the same cache pass
//                (same heads, same cache) with a 1 x 6144 projection
// Counters: cache_GBps = the cache bytes (2 B kv_heads P head_dim 4) per second; read_GBps =
// the bytes the form must read at least (cache + packed weights) per second: compare with the
// read bandwidth `attnbench machine` measures.
enum DecodePhase { kWhole = 0, kProjections = 1, kCachePass = 2 };
void BenchDecode(benchmark::State& state, DecodePhase phase) {
  const int32_t batch = static_cast<int32_t>(state.range(0)), past = static_cast<int32_t>(state.range(1));
  ab_problem p = MakeProblem(phase == kCachePass ? Variant::kCausal : Variant::kMha, batch, 1,
                             phase == kCachePass ? 1 : 4096, 4096, 32);
  p.kv_heads = 8;
  p.past_len = past;
  p.threads = static_cast<int32_t>(state.range(2));
  const size_t din = p.d_in, dout = p.d_out, kvd = KvDim(p);
  AlignedBuffer<float> x(InputElems(p)), w_q(din * dout), w_k(din * kvd), w_v(din * kvd), w_o(dout * dout),
      b_o(dout), k_cache(std::max<size_t>(1, CacheElems(p))), v_cache(k_cache.size()), out(OutputElems(p));
  // Small values, no overflow and no subnormals; the numbers do not matter, the bytes do.
  const auto fill = [](AlignedBuffer<float>& b, float scale) {
    for (size_t i = 0; i < b.size(); ++i) b[i] = scale * static_cast<float>(static_cast<int>(i % 13) - 6);
  };
  fill(x, 0.1f), fill(w_q, 0.01f), fill(w_k, 0.01f), fill(w_v, 0.01f), fill(w_o, 0.01f), fill(b_o, 0.1f);
  fill(k_cache, 0.1f), fill(v_cache, 0.1f);
  ab_weights w{};
  w.w_q = w_q.data(), w.w_k = w_k.data(), w.w_v = w_v.data(), w.w_o = w_o.data(), w.b_o = b_o.data();
  w.k_cache = k_cache.data(), w.v_cache = v_cache.data();
  FusedAttention attention(p, w);
  for (auto _ : state) {
    attention.Run(x.data(), out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  const double cache_bytes = 2.0 * CacheElems(p) * sizeof(float);
  const double weight_bytes = static_cast<double>(WeightElems(p)) * sizeof(float);
  state.counters["cache_GBps"] = benchmark::Counter(cache_bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["read_GBps"] =
      benchmark::Counter((cache_bytes + weight_bytes) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["chunks"] = static_cast<double>(attention.KeyChunks());
}

// The system BLAS's SGEMM on Gemm's shapes (row-major A [rows, 768] . B [768, n], B not packed:
// cblas has no packed-B call, so its packing is in the time), one thread: what our GEMM is
// measured against on this machine (docs/fused.md, "Session 9").
void BenchSgemm(benchmark::State& state) {
  const int rows = static_cast<int>(state.range(0)), n = static_cast<int>(state.range(1)), k = 768;
  AlignedBuffer<float> a(static_cast<size_t>(rows) * k), b(static_cast<size_t>(k) * n), c(static_cast<size_t>(rows) * n);
  for (size_t i = 0; i < a.size(); ++i) a[i] = 0.01f * static_cast<float>(i % 7);
  for (size_t i = 0; i < b.size(); ++i) b[i] = 0.02f * static_cast<float>(i % 5);
  openblas_set_num_threads(1);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["FLOPS"] = benchmark::Counter(2.0 * rows * k * n, benchmark::Counter::kIsIterationInvariantRate);
}

void RegisterAll() {
  RegisterPerTarget("ScoreTile", [](benchmark::State& s) { HWY_DYNAMIC_DISPATCH(BenchScoreTile)(s); });
  RegisterPerTarget("Exp2SubSum", [](benchmark::State& s) { HWY_DYNAMIC_DISPATCH(BenchExp2Sum)(s); });
  // hn::Exp in the same loop: the exp the fused kernel rejected (docs/fused.md, "exp").
  RegisterPerTarget("HwyExpSubSum", [](benchmark::State& s) { HWY_DYNAMIC_DISPATCH(BenchHwyExpSum)(s); });
  RegisterPerTarget("PvTile", [](benchmark::State& s) { HWY_DYNAMIC_DISPATCH(BenchPvTile)(s); });
  RegisterPerTarget("GroupBlock", [](benchmark::State& s) { HWY_DYNAMIC_DISPATCH(BenchGroupBlock)(s); });
  for (const int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const std::string name = std::string("Gemm/") + hwy::TargetName(target);
    auto* g = benchmark::RegisterBenchmark(name.c_str(), [target](benchmark::State& state) {
      hwy::SetSupportedTargetsForTest(target);
      HWY_DYNAMIC_DISPATCH(BenchGemm)(state);
      hwy::SetSupportedTargetsForTest(0);
    });
    g->ArgNames({"rows", "n", "group"});  // group: the packed layout (kernels/pack.h), 64 and 16 columns
    for (const auto& [rows, n] : std::vector<std::pair<int64_t, int64_t>>{{66, 2304}, {132, 2304}, {192, 2304}, {66, 768}, {192, 768}})
      for (const int64_t group : {64, 16}) g->Args({rows, n, group});
  }
  // Two threads on the best target, the split fused uses at T <= 192 (columns) and the other.
  auto* g2 = benchmark::RegisterBenchmark("GemmThreads", [](benchmark::State& state) {
    HWY_DYNAMIC_DISPATCH(BenchGemmThreads)(state);
  });
  g2->ArgNames({"rows", "n", "split_rows"})->UseRealTime();
  for (const auto& [rows, n] : std::vector<std::pair<int64_t, int64_t>>{{128, 2304}, {128, 768}, {256, 2304}})
    for (const int64_t split_rows : {0, 1}) g2->Args({rows, n, split_rows});
  auto* sgemm = benchmark::RegisterBenchmark("Sgemm/openblas", BenchSgemm);
  sgemm->ArgNames({"rows", "n"});
  for (const auto& [rows, n] : std::vector<std::pair<int64_t, int64_t>>{{66, 2304}, {132, 2304}, {192, 2304}, {66, 768}, {192, 768}})
    sgemm->Args({rows, n});
  // The block sizes of docs/fused.md's tables ("Block sizes": the first sweep, then the small br of the
  // session-6 re-sweep on a 48 KiB L1D); 64:64 is the default.
  auto* b = benchmark::RegisterBenchmark("FusedAttention", BenchFusedAttention);
  b->ArgNames({"br", "bc", "H"})->Unit(benchmark::kMillisecond);
  for (const auto& [br, bc] : std::vector<std::pair<int64_t, int64_t>>{
           {64, 64}, {48, 64}, {60, 64}, {96, 64}, {128, 64}, {64, 128}, {96, 128}, {128, 128}, {64, 256}, {36, 32}, {64, 32},
           {24, 64}, {30, 64}, {32, 64}, {36, 64}})
    b->Args({br, bc, 12});
  // One head of 768 (T = 1024): the block sizes for wide heads.
  for (const auto& [br, bc] : std::vector<std::pair<int64_t, int64_t>>{
           {64, 64}, {32, 64}, {16, 64}, {12, 64}, {64, 32}, {64, 16}, {32, 32}, {32, 16}, {16, 16}, {128, 64}, {128, 16},
           {96, 16}, {192, 16}, {256, 16}, {128, 32}, {256, 32}, {256, 64}})
    b->Args({br, bc, 1});
  auto* phases = benchmark::RegisterBenchmark("FusedPhases", BenchFusedPhases);
  phases->ArgNames({"variant", "T", "threads"})->Unit(benchmark::kMillisecond)->UseRealTime();
  for (const int64_t T : {128, 1024, 4096})  // mha: issue 13's sweep
    for (const int64_t threads : {1, 2}) phases->Args({3, T, threads});
  for (const int64_t v : {0, 1, 2}) phases->Args({v, 256, 2});  // the default preset's single-head variants
  for (const DecodePhase phase : {kWhole, kProjections, kCachePass}) {
    static const char* kNames[] = {"Decode/whole", "Decode/projections", "Decode/cache"};
    auto* dec = benchmark::RegisterBenchmark(kNames[phase], BenchDecode, phase);
    dec->ArgNames({"B", "P", "threads"})->Unit(benchmark::kMillisecond)->UseRealTime();
    for (const int64_t batch : {1, 8})
      for (const int64_t past : phase == kProjections ? std::vector<int64_t>{0} : std::vector<int64_t>{512, 4096, 32768})
        for (const int64_t threads : {1, 2}) dec->Args({batch, past, threads});
  }
}

}  // namespace
}  // namespace attnbench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  attnbench::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

#endif  // HWY_ONCE
