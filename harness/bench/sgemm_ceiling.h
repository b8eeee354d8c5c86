// The machine's practical float32 ceiling, measured in the same run as the backends: a square
// SGEMM large enough to be compute-bound, timed with every SGEMM library available (OpenBLAS,
// linked; oneMKL, dlopen'ed when configured, see kernels/blas/mkl_rt.h), per thread count. The
// fastest library is the ceiling; "% of SGEMM" in the reports is relative to it, and the reports
// name the library that measured it.
#pragma once

#include <string>
#include <vector>

namespace attnbench::bench {

struct SgemmRate {
  int n = 0;          // matrix size (n x n times n x n)
  int threads = 0;
  double gflops = 0;  // best of the repetitions: the ceiling, not the typical case
  double median_gflops = 0;
  std::string library;  // "OpenBLAS 0.3.21 SkylakeX", "oneMKL 2026.2 (GNU OpenMP)"
  std::string error;    // "" = measured; else why not (gflops 0)
};

// One SGEMM implementation: the CBLAS signature with the enums as ints (101 row-major, 111 no
// transpose, 112 transpose) and its own thread control.
struct SgemmLibrary {
  using SgemmFn = void (*)(int layout, int ta, int tb, int m, int n, int k, float alpha, const float* a, int lda,
                           const float* b, int ldb, float beta, float* c, int ldc);
  std::string name;
  SgemmFn sgemm = nullptr;
  void (*set_threads)(int) = nullptr;
};

// OpenBLAS first, then MKL when libmkl_rt loads. `unavailable` (optional) gets one line per
// library that was looked for and could not be used ("oneMKL: cannot load ...").
std::vector<SgemmLibrary> SgemmLibraries(std::vector<std::string>* unavailable = nullptr);

// Times C = A B with n x n matrices with one library on `threads` threads (sets them, restores
// nothing: the caller sets threads per cell anyway), `reps` times after one warm-up call; checks
// a few entries of C against a float64 dot product (a wrong result gives gflops 0 and `error`).
SgemmRate MeasureSgemm(const SgemmLibrary& lib, int threads, int n = 2048, int reps = 5);

struct SgemmCeiling {
  SgemmRate best;                  // the fastest library's rate: the ceiling
  std::vector<SgemmRate> libraries;  // every library, in SgemmLibraries() order
};

// Every library in turn (a short pause between them so one pool's spinning workers do not
// slow the next library), the fastest (by best rate) as the ceiling.
SgemmCeiling MeasureSgemmCeiling(int threads, int n = 2048, int reps = 5);

// The ceiling's best rate alone (MeasureSgemmCeiling(...).best).
SgemmRate MeasureSgemm(int threads, int n = 2048, int reps = 5);

}  // namespace attnbench::bench
