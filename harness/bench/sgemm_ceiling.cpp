#include "sgemm_ceiling.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include <attnbench/tensor.hpp>

#include "kernels/blas/mkl_rt.h"
#include "../sysinfo.h"

namespace attnbench::bench {

namespace {

void OpenblasSgemm(int layout, int ta, int tb, int m, int n, int k, float alpha, const float* a, int lda,
                   const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(static_cast<CBLAS_ORDER>(layout), static_cast<CBLAS_TRANSPOSE>(ta), static_cast<CBLAS_TRANSPOSE>(tb), m,
              n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void MklSgemm(int layout, int ta, int tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
              int ldb, float beta, float* c, int ldc) {
  mkl_rt::Get().sgemm(layout, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void MklThreads(int n) {
  omp_set_num_threads(n);  // the GNU threading layer runs on libgomp's pool
  mkl_rt::Get().set_num_threads(n);
}

}  // namespace

std::vector<SgemmLibrary> SgemmLibraries(std::vector<std::string>* unavailable) {
  std::vector<SgemmLibrary> libs;
  const BlasInfo blas = GetBlasInfo();
  libs.push_back({blas.library + " " + blas.version + " " + blas.kernel, &OpenblasSgemm, &SetThreads});
  const auto& mkl = mkl_rt::Get();
  if (mkl.ok())
    libs.push_back({mkl.Name(), &MklSgemm, &MklThreads});
  else if (unavailable && !mkl_rt::ConfiguredPath().empty())
    unavailable->push_back("oneMKL: " + mkl.error);
  return libs;
}

SgemmRate MeasureSgemm(const SgemmLibrary& lib, int threads, int n, int reps) {
  lib.set_threads(threads);
  const size_t elems = static_cast<size_t>(n) * n;
  AlignedBuffer<float> a(elems), b(elems), c(elems);
  // Values in [-1, 1): no denormals, no overflow over n terms.
  for (size_t i = 0; i < elems; ++i) {
    a[i] = static_cast<float>((i * 2654435761u) % 1024) / 512.0f - 1.0f;
    b[i] = static_cast<float>((i * 40503u) % 1024) / 512.0f - 1.0f;
  }
  c.Fill(0.0f);
  auto once = [&] { lib.sgemm(101, 111, 111, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n); };
  once();  // warm-up: thread pool start, page faults
  SgemmRate r;
  r.n = n;
  r.threads = threads;
  r.library = lib.name;
  // A rate is only worth quoting for a correct product: three entries against float64.
  for (const size_t idx : {size_t{0}, elems / 2 + n / 3, elems - 1}) {
    const size_t i = idx / n, j = idx % n;
    double ref = 0, mag = 0;
    for (int k = 0; k < n; ++k) {
      ref += static_cast<double>(a[i * n + k]) * b[static_cast<size_t>(k) * n + j];
      mag += std::fabs(static_cast<double>(a[i * n + k]) * b[static_cast<size_t>(k) * n + j]);
    }
    if (!(std::fabs(c[idx] - ref) <= 1e-5 * mag + 1e-6)) {
      r.error = "wrong result: C[" + std::to_string(i) + "," + std::to_string(j) + "] = " + std::to_string(c[idx]) +
                ", float64 " + std::to_string(ref);
      return r;
    }
  }
  std::vector<double> rates;
  const double flops = 2.0 * n * n * static_cast<double>(n);
  for (int rep = 0; rep < reps; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    once();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(flops / s * 1e-9);
  }
  std::sort(rates.begin(), rates.end());
  r.gflops = rates.back();
  r.median_gflops = rates[rates.size() / 2];
  return r;
}

SgemmCeiling MeasureSgemmCeiling(int threads, int n, int reps) {
  SgemmCeiling out;
  const auto libs = SgemmLibraries();
  for (size_t i = 0; i < libs.size(); ++i) {
    // OpenBLAS's idle workers spin (sched_yield) for ~0.1 s after a call: let them settle
    // before the next library's threads want the cores.
    if (i) std::this_thread::sleep_for(std::chrono::milliseconds(250));
    out.libraries.push_back(MeasureSgemm(libs[i], threads, n, reps));
    if (out.libraries.back().gflops > out.best.gflops) out.best = out.libraries.back();
  }
  if (out.best.library.empty()) out.best = out.libraries.front();  // every library failed: its error
  SetThreads(threads);  // leave OpenMP and OpenBLAS as the caller expects
  return out;
}

SgemmRate MeasureSgemm(int threads, int n, int reps) { return MeasureSgemmCeiling(threads, n, reps).best; }

}  // namespace attnbench::bench
