// The machine's own ceilings, measured rather than assumed (issue 12): an FMA throughput kernel
// for each Highway target the CPU runs (AVX3 = AVX-512, AVX2 with FMA, SSE4 with a multiply and
// an add), and the two STREAM-like memory kernels (triad, read-only sum). Each call runs on the
// calling thread; harness/machine/ runs them on N threads, times them and counts FLOPs and bytes.
// The SIMD code is in peak-inl.h, compiled for every attainable target by peak.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace attnbench::kernels {

// Independent accumulator vectors in the FMA kernel. Enough to cover latency x throughput on
// the CPUs we run: 4-cycle FMA latency x 2 FMA pipes = 8 chains in flight (Skylake-X to Zen 5);
// likwid-bench's peakflops kernels keep 8 to 16 FMAs per loop body too. 12 (not more) because
// AVX2 and SSE4 have 16 vector registers and the kernel also keeps its two constants in them.
inline constexpr size_t kFmaChains = 12;

// A target the FMA kernel can run on: compiled into this binary and supported by this CPU.
struct PeakTarget {
  int64_t target = 0;       // HWY_AVX3, HWY_AVX2, HWY_SSE4
  const char* name = "";    // hwy::TargetName: "AVX3", "AVX2", "SSE4"
  size_t lanes = 0;         // floats per vector
  bool native_fma = false;  // one fused multiply-add per lane; false: a multiply then an add
};

// The targets among AVX3, AVX2 and SSE4 this binary compiled and this CPU runs, widest first.
// (AVX3_DL and newer run the same FMA as AVX3 and are not listed apart.)
std::vector<PeakTarget> PeakTargets();

// Runs kFmaChains independent chains acc_k = acc_k * mul + add, `iters` steps each, chain k
// starting at k in every lane, on `target` (one of PeakTargets()). Writes the sum of chain k's
// lanes to out[k] (kFmaChains floats): the caller must use them so the loop is not elided, and
// a test can check them analytically. FLOPs done: 2 * lanes * kFmaChains * iters.
void RunFmaChains(int64_t target, uint64_t iters, float mul, float add, float* out);

// a[i] = b[i] + s * c[i] for i < n (STREAM's triad, in float) on the best target, with ordinary
// stores (the hardware's write-allocate reads a too; STREAM's byte count does not include it).
void Triad(float* a, const float* b, const float* c, float s, size_t n);

// The sum of p[0..n) on the best target: a read-only stream.
float SumRead(const float* p, size_t n);

// The target Triad and SumRead run on (hwy::TargetName of the best one).
const char* StreamTargetName();

}  // namespace attnbench::kernels
