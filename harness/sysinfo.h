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

// The SIMD class of an OpenBLAS kernel name (openblas_get_corename): 3 AVX-512 (SkylakeX,
// Cooperlake, SapphireRapids), 2 AVX2 (Haswell, Zen), 1 AVX (Sandybridge, Bulldozer, ...),
// 0 generic / SSE (Prescott, Core2, Nehalem, ...), -1 unknown name.
int BlasKernelIsaClass(const std::string& corename);
// The same class for this CPU (cpuid): 3 AVX-512F, 2 AVX2 + FMA, 1 AVX, 0 otherwise.
int CpuIsaClass();

// Non-empty when the BLAS runs a kernel for a narrower ISA than the CPU has (a generic kernel
// on a CPU it does not recognise, or e.g. OPENBLAS_CORETYPE=Haswell on an AVX-512 CPU): says so
// and how to change it.
std::string BlasKernelWarning(const BlasInfo& info);

std::string CpuModel();
std::string CpuSimdFlags();  // e.g. "avx2 fma avx512f avx512bw ..."
int CpuCount();

// One thread owner for the whole process: sets OpenMP's and the BLAS's thread counts to n.
void SetThreads(int n);

}  // namespace attnbench
