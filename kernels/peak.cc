// The peak kernels (peak.h) for every attainable Highway target (HWY_COMPILE_ALL_ATTAINABLE on
// this library): the FMA kernel is called on an explicit target, so one process can measure
// AVX-512, AVX2 and SSE4 in turn without touching Highway's global target choice (plugins in
// the same process share it); the memory kernels dispatch to the best target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/peak.cc"
#include "hwy/foreach_target.h"  // must come before highway.h

#include "hwy/highway.h"
#include "kernels/peak-inl.h"

HWY_BEFORE_NAMESPACE();
namespace attnbench {
namespace HWY_NAMESPACE {

void FmaChainsOnTarget(uint64_t iters, float mul, float add, float* out) {
  FmaChains(hn::ScalableTag<float>(), iters, mul, add, out);
}
size_t LanesOnTarget() { return hn::Lanes(hn::ScalableTag<float>()); }
bool NativeFmaOnTarget() { return HWY_NATIVE_FMA; }

void TriadOnTarget(float* a, const float* b, const float* c, float s, size_t n) {
  TriadStream(hn::ScalableTag<float>(), a, b, c, s, n);
}
float SumReadOnTarget(const float* p, size_t n) { return SumStream(hn::ScalableTag<float>(), p, n); }
int64_t StreamTarget() { return HWY_TARGET; }

}  // namespace HWY_NAMESPACE
}  // namespace attnbench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include <stdexcept>
#include <string>

#include "hwy/targets.h"

namespace attnbench {

HWY_EXPORT(TriadOnTarget);
HWY_EXPORT(SumReadOnTarget);
HWY_EXPORT(StreamTarget);

namespace {

struct TargetEntry {
  int64_t target;
  void (*fma)(uint64_t, float, float, float*);
  size_t (*lanes)();
  bool (*native_fma)();
};

// The per-target functions by hand rather than through HWY_EXPORT's table, whose index is
// Highway's private business: one row per compiled target among the three the peak table shows.
const std::vector<TargetEntry>& CompiledEntries() {
  static const std::vector<TargetEntry> entries = {
#if HWY_TARGETS & HWY_AVX3
      {HWY_AVX3, &N_AVX3::FmaChainsOnTarget, &N_AVX3::LanesOnTarget, &N_AVX3::NativeFmaOnTarget},
#endif
#if HWY_TARGETS & HWY_AVX2
      {HWY_AVX2, &N_AVX2::FmaChainsOnTarget, &N_AVX2::LanesOnTarget, &N_AVX2::NativeFmaOnTarget},
#endif
#if HWY_TARGETS & HWY_SSE4
      {HWY_SSE4, &N_SSE4::FmaChainsOnTarget, &N_SSE4::LanesOnTarget, &N_SSE4::NativeFmaOnTarget},
#endif
  };
  return entries;
}

}  // namespace

namespace kernels {

std::vector<PeakTarget> PeakTargets() {
  std::vector<PeakTarget> out;
  const int64_t cpu = hwy::SupportedTargets();
  for (const TargetEntry& e : CompiledEntries())
    if (cpu & e.target) out.push_back({e.target, hwy::TargetName(e.target), e.lanes(), e.native_fma()});
  return out;
}

void RunFmaChains(int64_t target, uint64_t iters, float mul, float add, float* out) {
  for (const TargetEntry& e : CompiledEntries())
    if (e.target == target) {
      if (!(hwy::SupportedTargets() & target))
        throw std::invalid_argument(std::string("RunFmaChains: this CPU does not run ") + hwy::TargetName(target));
      return e.fma(iters, mul, add, out);
    }
  throw std::invalid_argument(std::string("RunFmaChains: target not compiled: ") + hwy::TargetName(target));
}

void Triad(float* a, const float* b, const float* c, float s, size_t n) {
  HWY_DYNAMIC_DISPATCH(TriadOnTarget)(a, b, c, s, n);
}

float SumRead(const float* p, size_t n) { return HWY_DYNAMIC_DISPATCH(SumReadOnTarget)(p, n); }

const char* StreamTargetName() { return hwy::TargetName(HWY_DYNAMIC_DISPATCH(StreamTarget)()); }

}  // namespace kernels
}  // namespace attnbench

#endif  // HWY_ONCE
