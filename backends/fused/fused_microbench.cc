// Each micro-kernel of fused-inl.h timed alone on L1-resident data (docs/fused.md, "Profile"):
// the score tile, the exp + sum pass, the P . V tile and the whole GroupBlock, on one row group
// of kGroup rows x one key block, repeated. Not used by the plugin (a static library member
// nobody references is not linked in); the diagnostic driver calls FusedMicroBench.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "fused_microbench.cc"
#include "hwy/foreach_target.h"  // must come before highway.h

#include "hwy/highway.h"

#include <chrono>
#include <vector>

#include "fused-inl.h"
#include "fused_microbench.h"

HWY_BEFORE_NAMESPACE();
namespace attnbench {
namespace HWY_NAMESPACE {

// One kernel per non-inlined function, as GroupBlock calls them (inlined into one big switch
// the compiler spills the score tile's accumulators, which the real kernel never does).
template <class D>
HWY_NOINLINE void BenchScore(D d, const GroupArgs& g, size_t hd, size_t bc) {
  const size_t N = hn::Lanes(d);
  for (size_t vec = 0; vec < bc / N; vec += kMatMulColVecs)
    ScoreTile<FusedState::kGroup, kMatMulColVecs>(d, g.q, hd, g.kt, bc, vec * N, g.s, bc, g.lim, false, g.bmax);
}
template <class D>
HWY_NOINLINE void BenchExp(D d, const GroupArgs& g, size_t bc) {
  for (size_t r = 0; r < FusedState::kGroup; ++r) g.l[r] += Exp2SubSum(d, g.s + r * bc, bc, 1.0f);
}
template <class D>
HWY_NOINLINE void BenchHwyExp(D d, const GroupArgs& g, size_t bc) {
  for (size_t r = 0; r < FusedState::kGroup; ++r) g.l[r] += ExpSubSum(d, g.s + r * bc, bc, 1.0f);
}
template <class D>
HWY_NOINLINE void BenchPv(D d, const GroupArgs& g, size_t hd_pad, size_t bc) {
  const size_t N = hn::Lanes(d);
  for (size_t ov = 0; ov < hd_pad / N; ov += kMatMulColVecs)
    PvTile<FusedState::kGroup, kMatMulColVecs>(d, g.s, bc, bc, g.v, hd_pad, ov * N, g.o, hd_pad, g.alpha);
}

double MicroBench(int which, size_t hd, size_t bc, size_t reps) {
  const hn::ScalableTag<float> d;
  constexpr size_t kR = FusedState::kGroup;
  FusedState st;
  st.p.seq_len = static_cast<int32_t>(bc);
  st.head_dim = hd;
  st.hd_pad = hwy::RoundUpTo(hd, FusedState::kPad);
  st.bc = bc;
  st.br = kR;
  auto q = AlignedBuffer<float>(kR * hd);
  auto kt = AlignedBuffer<float>(hd * bc);
  auto v = AlignedBuffer<float>(bc * st.hd_pad);
  auto o = AlignedBuffer<float>(kR * st.hd_pad);
  auto s = AlignedBuffer<float>(kR * bc);
  float m[kR], l[kR], alpha[kR], bmax[kR];
  for (size_t i = 0; i < kR * hd; ++i) q[i] = 0.01f * static_cast<float>(i % 7);
  for (size_t i = 0; i < hd * bc; ++i) kt[i] = 0.02f * static_cast<float>(i % 5);
  for (size_t i = 0; i < bc * st.hd_pad; ++i) v[i] = 0.03f * static_cast<float>(i % 3);
  for (size_t i = 0; i < kR * st.hd_pad; ++i) o[i] = 0.0f;
  for (size_t r = 0; r < kR; ++r) m[r] = 0.0f, l[r] = 1.0f, alpha[r] = 1.0f, bmax[r] = 0.0f;
  GroupArgs g;
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
  for (size_t r = 0; r < kR; ++r) g.lim[r] = static_cast<float>(bc);
  g.width = bc;
  g.mask = false;
  g.key0 = 0, g.row0 = 0, g.b = 0, g.h = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t rep = 0; rep < reps; ++rep) {
    switch (which) {
      case 0: BenchScore(d, g, hd, bc); break;          // score tile (+ row max)
      case 1: BenchExp(d, g, bc); break;                // exp + sum of the block's rows
      case 4: BenchHwyExp(d, g, bc); break;             // the same with hn::Exp (rejected)
      case 2: BenchPv(d, g, st.hd_pad, bc); break;      // P . V tile (+ rescale)
      default:  // everything GroupBlock does
        GroupBlock<kR>(d, st, g);
        break;
    }
    asm volatile("" : : "r"(g.s), "r"(g.o) : "memory");  // keep every repetition
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace HWY_NAMESPACE
}  // namespace attnbench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attnbench {
HWY_EXPORT(MicroBench);
double FusedMicroBench(int which, size_t hd, size_t bc, size_t reps) {
  return HWY_DYNAMIC_DISPATCH(MicroBench)(which, hd, bc, reps);
}
}  // namespace attnbench
#endif
