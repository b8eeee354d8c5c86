// FTZ + DAZ for the current thread while in scope; the caller's MXCSR restored on exit.
//
// The SIMD backends (highway, fused) flush subnormals in every worker thread rather than prove
// they never arise. Masked scores are -inf, so masking alone makes none, but Highway 1.0.3's Exp
// returns subnormals for inputs in about [-104, -87] (weights that small are legitimate when
// scores spread), and tiny weights times small V entries in P . V, or 1/sum scalings, can land
// there too. One subnormal operand costs ~100 cycles on many x86 cores; flushed values are below
// 1.2e-38 and far under the validation tolerance. The MXCSR is restored because OpenMP reuses
// its threads and thread 0 is the caller's own. A no-op off x86.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace attnbench {

class FlushDenormals {
 public:
#if defined(__x86_64__) || defined(__i386__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFtz | kDaz); }
  ~FlushDenormals() { _mm_setcsr(saved_); }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
  static constexpr unsigned kFtz = 1u << 15, kDaz = 1u << 6;
  unsigned saved_;
#endif
};

}  // namespace attnbench
