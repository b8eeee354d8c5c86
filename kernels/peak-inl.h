// The peak kernels (peak.h), written once with Highway and compiled per target by peak.cc
// (include after hwy/foreach_target.h): FmaChains, the FMA throughput loop; Triad and SumRead,
// the memory streams.

// Per-target include guard: toggled by foreach_target.h for every target it compiles.
#if defined(ATTNBENCH_KERNELS_PEAK_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTNBENCH_KERNELS_PEAK_INL_H_
#undef ATTNBENCH_KERNELS_PEAK_INL_H_
#else
#define ATTNBENCH_KERNELS_PEAK_INL_H_
#endif

#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"
#include "kernels/peak.h"

HWY_BEFORE_NAMESPACE();
namespace attnbench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// kernels::kFmaChains (12) chains acc_k = acc_k * mul + add, written out as twelve variables so
// that each stays in a register (an array of vectors may be spilled) and the twelve MulAdds of
// one step are independent: the loop runs at the FMA pipes' throughput, not at their latency.
// mul and add come from the caller at run time, and every accumulator is stored at the end,
// so the compiler can neither fold the chain nor drop the loop (objdump of peak.cc.o, GCC 12
// -O3: the loop body is twelve `vfmadd132ps` on zmm (AVX3) or ymm (AVX2) registers, twelve
// `mulps` + twelve `addps` on SSE4, and the counter; no loads, stores or spills). out[k] = the
// sum of chain k's lanes.
template <class D>
HWY_NOINLINE void FmaChains(D d, uint64_t iters, float mul, float add, float* HWY_RESTRICT out) {
  static_assert(kernels::kFmaChains == 12, "FmaChains writes its chains out by hand");
  const auto m = hn::Set(d, mul);
  const auto c = hn::Set(d, add);
  auto a0 = hn::Set(d, 0.0f), a1 = hn::Set(d, 1.0f), a2 = hn::Set(d, 2.0f), a3 = hn::Set(d, 3.0f);
  auto a4 = hn::Set(d, 4.0f), a5 = hn::Set(d, 5.0f), a6 = hn::Set(d, 6.0f), a7 = hn::Set(d, 7.0f);
  auto a8 = hn::Set(d, 8.0f), a9 = hn::Set(d, 9.0f), a10 = hn::Set(d, 10.0f), a11 = hn::Set(d, 11.0f);
  for (uint64_t i = 0; i < iters; ++i) {
    a0 = hn::MulAdd(a0, m, c);
    a1 = hn::MulAdd(a1, m, c);
    a2 = hn::MulAdd(a2, m, c);
    a3 = hn::MulAdd(a3, m, c);
    a4 = hn::MulAdd(a4, m, c);
    a5 = hn::MulAdd(a5, m, c);
    a6 = hn::MulAdd(a6, m, c);
    a7 = hn::MulAdd(a7, m, c);
    a8 = hn::MulAdd(a8, m, c);
    a9 = hn::MulAdd(a9, m, c);
    a10 = hn::MulAdd(a10, m, c);
    a11 = hn::MulAdd(a11, m, c);
  }
  const auto sum = [d](hn::Vec<D> v) { return hn::GetLane(hn::SumOfLanes(d, v)); };
  out[0] = sum(a0), out[1] = sum(a1), out[2] = sum(a2), out[3] = sum(a3);
  out[4] = sum(a4), out[5] = sum(a5), out[6] = sum(a6), out[7] = sum(a7);
  out[8] = sum(a8), out[9] = sum(a9), out[10] = sum(a10), out[11] = sum(a11);
}

// a[i] = b[i] + s * c[i]. Ordinary stores, as STREAM compiled by a C compiler does; the tail
// (n not a multiple of the vector) one lane at a time.
template <class D>
HWY_INLINE void TriadStream(D d, float* HWY_RESTRICT a, const float* HWY_RESTRICT b, const float* HWY_RESTRICT c,
                            float s, size_t n) {
  const size_t N = hn::Lanes(d);
  const auto vs = hn::Set(d, s);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    hn::StoreU(hn::MulAdd(vs, hn::LoadU(d, c + i), hn::LoadU(d, b + i)), d, a + i);
    hn::StoreU(hn::MulAdd(vs, hn::LoadU(d, c + i + N), hn::LoadU(d, b + i + N)), d, a + i + N);
  }
  for (; i < n; ++i) a[i] = b[i] + s * c[i];
}

// The sum of p[0..n), four accumulators so the adds' latency does not limit the stream.
template <class D>
HWY_INLINE float SumStream(D d, const float* HWY_RESTRICT p, size_t n) {
  const size_t N = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    s0 = hn::Add(s0, hn::LoadU(d, p + i));
    s1 = hn::Add(s1, hn::LoadU(d, p + i + N));
    s2 = hn::Add(s2, hn::LoadU(d, p + i + 2 * N));
    s3 = hn::Add(s3, hn::LoadU(d, p + i + 3 * N));
  }
  float total = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; i < n; ++i) total += p[i];
  return total;
}

}  // namespace HWY_NAMESPACE
}  // namespace attnbench
HWY_AFTER_NAMESPACE();

#endif  // ATTNBENCH_KERNELS_PEAK_INL_H_
