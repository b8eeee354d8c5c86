// What the machine and the BLAS are: recorded with every result, because a number without the
// kernel that produced it is not worth much (OpenBLAS 0.3.21 silently runs its generic
// "Prescott" kernel on CPUs it does not know, ~4x slower, unless OPENBLAS_CORETYPE is set).
#pragma once

#include <string>

namespace attnbench {

struct BlasInfo {
  std::string library;  // "OpenBLAS"
  std::string version;  // from openblas_get_config(), e.g. "0.3.21"
  std::string config;   // openblas_get_config()
  std::string kernel;   // openblas_get_corename(), e.g. "SkylakeX" or "Prescott"
  int threads = 0;      // openblas_get_num_threads()
  std::string coretype_env;  // OPENBLAS_CORETYPE, empty when unset
};
BlasInfo GetBlasInfo();

// Non-empty when the BLAS runs a generic kernel on a CPU that has AVX2 / AVX-512: says so and
// how to fix it.
std::string BlasKernelWarning(const BlasInfo& info);

std::string CpuModel();
std::string CpuSimdFlags();  // e.g. "avx2 fma avx512f avx512bw ..."
int CpuCount();

// One thread owner for the whole process: sets OpenMP's and the BLAS's thread counts to n.
void SetThreads(int n);

}  // namespace attnbench
