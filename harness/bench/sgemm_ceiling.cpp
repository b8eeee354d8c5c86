#include "sgemm_ceiling.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include <attnbench/tensor.hpp>

#include "../sysinfo.h"

namespace attnbench::bench {

SgemmRate MeasureSgemm(int threads, int n, int reps) {
  SetThreads(threads);
  const size_t elems = static_cast<size_t>(n) * n;
  AlignedBuffer<float> a(elems), b(elems), c(elems);
  // Values in [-1, 1): no denormals, no overflow over n terms.
  for (size_t i = 0; i < elems; ++i) {
    a[i] = static_cast<float>((i * 2654435761u) % 1024) / 512.0f - 1.0f;
    b[i] = static_cast<float>((i * 40503u) % 1024) / 512.0f - 1.0f;
  }
  c.Fill(0.0f);
  auto once = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
                c.data(), n);
  };
  once();  // warm-up: thread pool start, page faults
  std::vector<double> rates;
  const double flops = 2.0 * n * n * static_cast<double>(n);
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    once();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(flops / s * 1e-9);
  }
  std::sort(rates.begin(), rates.end());
  SgemmRate r;
  r.n = n;
  r.threads = threads;
  r.gflops = rates.back();
  r.median_gflops = rates[rates.size() / 2];
  return r;
}

}  // namespace attnbench::bench
