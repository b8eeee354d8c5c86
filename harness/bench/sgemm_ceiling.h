// The machine's practical float32 ceiling, measured in the same run as the backends: a square
// cblas_sgemm large enough to be compute-bound. "% of SGEMM" in the reports is relative to it.
#pragma once

namespace attnbench::bench {

struct SgemmRate {
  int n = 0;          // matrix size (n x n times n x n)
  int threads = 0;
  double gflops = 0;  // best of the repetitions: the ceiling, not the typical case
  double median_gflops = 0;
};

// Times C = A B with n x n matrices on `threads` threads (sets them, restores nothing: the
// caller sets threads per cell anyway), `reps` times after one warm-up call.
SgemmRate MeasureSgemm(int threads, int n = 2048, int reps = 5);

}  // namespace attnbench::bench
