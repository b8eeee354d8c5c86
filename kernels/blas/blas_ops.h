// The pieces the BLAS-based backends (blas, blas-mkl, mha-stacked, mha-split; fused for its
// projections) share: GEMMs on strided row-major views, one head's attention (Q_h.K_h^T -> mask/softmax/dropout -> P.V_h), the thread policy
// that keeps a multi-threaded BLAS out of OpenMP regions, and the BLAS runtime line.
// Header-only: each plugin compiles it against its own BLAS policy (attnbench::blas_ops for the
// linked CBLAS, attnbench::mkl_rt plus ATTNBENCH_BLAS_MKL for oneMKL; kernels/CMakeLists.txt).
//
// Two BLAS policies, chosen at compile time:
//  - default: the CBLAS linked into the plugin (OpenBLAS), called as cblas_sgemm;
//  - ATTNBENCH_BLAS_MKL (the blas-mkl plugin): oneMKL through mkl_rt.h, i.e. function pointers
//    dlsym'ed from an RTLD_LOCAL handle of libmkl_rt. cblas.h is not included then, so no call
//    can bind to the process-wide cblas_sgemm (the executable's OpenBLAS) by accident.
#pragma once

#include <attnbench/attnbench.h>
#include <omp.h>
#ifdef ATTNBENCH_BLAS_MKL
#include "mkl_rt.h"
#else
#include <cblas.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

namespace attnbench::blas_ops {

#ifdef ATTNBENCH_BLAS_MKL
// MKL's cblas_sgemm, loaded on first use (the backend checks mkl_rt::Get().ok() in Supports and
// the constructor, so it is never null here).
inline mkl_rt::Api::SgemmFn MklSgemm() {
  static const mkl_rt::Api::SgemmFn fn = mkl_rt::Get().sgemm;
  return fn;
}
#endif

// C[M,N] = alpha A[M,K] . B[K,N] + beta C; every operand a row-major view with its leading dim.
inline void Gemm(int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
                 float beta, float* C, int ldc) {
#ifdef ATTNBENCH_BLAS_MKL
  MklSgemm()(mkl_rt::kRowMajor, mkl_rt::kNoTrans, mkl_rt::kNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

// C[M,N] = alpha A[M,K] . B[N,K]^T + beta C: Q_h . K_h^T without transposing K.
inline void GemmNT(int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
                   float beta, float* C, int ldc) {
#ifdef ATTNBENCH_BLAS_MKL
  MklSgemm()(mkl_rt::kRowMajor, mkl_rt::kNoTrans, mkl_rt::kTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

// "" when the BLAS can be used, else why not (MKL: libmkl_rt could not be loaded).
inline std::string BlasUnavailable() {
#ifdef ATTNBENCH_BLAS_MKL
  return mkl_rt::Get().error;
#else
  return {};
#endif
}

// The BLAS thread count for the next calls. OpenBLAS: nothing to do, the harness sets it with
// --threads (SetThreads). MKL: the harness does not know this plugin's MKL, so Run sets it.
inline void UseBlasThreads([[maybe_unused]] int threads) {
#ifdef ATTNBENCH_BLAS_MKL
  mkl_rt::Get().set_num_threads(threads);
#endif
}

// y[M,N] = x[M,K] . w[K,N] (+ bias[N]). The bias is written first so the GEMM adds onto it
// (beta = 1) instead of a second pass over y.
inline void Project(int M, int N, int K, const float* x, int ldx, const float* w, int ldw,
                    const float* bias, float* y, int ldy) {
  if (bias)
    for (int r = 0; r < M; ++r) std::copy(bias, bias + N, y + static_cast<size_t>(r) * ldy);
  Gemm(M, N, K, 1.0f, x, ldx, w, ldw, bias ? 1.0f : 0.0f, y, ldy);
}

// Softmax over the first `visible` entries of a score row, zeros in [visible, width) (the causal
// mask: exactly what masked_fill(-inf) + softmax gives), then inverted dropout folded into the
// normalisation so a row is read three times, not four.
struct RowSoftmax {
  explicit RowSoftmax(const ab_problem& p)
      : dropout(p.dropout_p > 0.0f),
        seed(p.dropout_seed),
        threshold(ab_dropout_threshold(p.dropout_p)),
        keep_scale(1.0f / (1.0f - p.dropout_p)) {}

  void operator()(float* row, int visible, int width, int b, int h, int i) const {
    float m = row[0];
    for (int j = 1; j < visible; ++j) m = std::max(m, row[j]);
    float sum = 0.0f;
    for (int j = 0; j < visible; ++j) sum += (row[j] = std::exp(row[j] - m));
    const float norm = (dropout ? keep_scale : 1.0f) / sum;
    if (dropout) {
      const uint64_t key = ab_dropout_row_key(seed, b, h, i);
      for (int j = 0; j < visible; ++j) row[j] = ab_dropout_keep(key, j, threshold) ? row[j] * norm : 0.0f;
    } else {
      for (int j = 0; j < visible; ++j) row[j] *= norm;
    }
    std::fill(row + visible, row + width, 0.0f);
  }

  bool dropout;
  uint64_t seed, threshold;
  float keep_scale;
};

// One (batch, head): strided views into Q, K, V (a head is a column block, so ld is the full row
// width) and into the context it writes.
struct HeadView {
  const float *q, *k, *v;
  int ldq, ldk, ldv;
  float* ctx;
  int ldc;
  int b, h;
};

// ctx_h = softmax(scale Q_h K_h^T, mask) . V_h, `row_block` query rows at a time with scores
// [row_block, T] in `scores`. With row_block = T this is the book's formulation (full T x T
// scores, masked afterwards); with a smaller block and a causal mask, block [i0, i1) only
// multiplies keys [0, i1), skipping about half the work of both products. The softmax loop is
// serial: an OpenMP region between multi-threaded GEMMs doubles the time (docs/threads.md).
inline void AttendHead(const ab_problem& p, const RowSoftmax& softmax, const HeadView& v, float* scores,
                       int row_block) {
  const int T = p.seq_len, hd = HeadDim(p);
  const float scale = static_cast<float>(ScoreScale(p));
  for (int i0 = 0; i0 < T; i0 += row_block) {
    const int rows = std::min(row_block, T - i0);
    const int keys = p.causal ? std::min(T, i0 + rows) : T;
    GemmNT(rows, keys, hd, scale, v.q + static_cast<size_t>(i0) * v.ldq, v.ldq, v.k, v.ldk, 0.0f, scores, keys);
    for (int r = 0; r < rows; ++r)
      softmax(scores + static_cast<size_t>(r) * keys, p.causal ? i0 + r + 1 : T, keys, v.b, v.h, i0 + r);
    Gemm(rows, hd, keys, 1.0f, scores, keys, v.v, v.ldv, 0.0f, v.ctx + static_cast<size_t>(i0) * v.ldc, v.ldc);
  }
}

// Runs the BLAS single-threaded for its lifetime so GEMMs can be called from inside an OpenMP
// region without oversubscribing (OpenBLAS's pthread build cannot tell it is inside one).
class SerialBlasScope {
 public:
#if defined(ATTNBENCH_BLAS_MKL)
  // MKL on the GNU layer would not oversubscribe (it runs serially inside a parallel region by
  // default), but the policy is the same for both libraries: 1 thread, set explicitly.
  SerialBlasScope() : saved_(mkl_rt::Get().get_max_threads()) {
    if (saved_ != 1) mkl_rt::Get().set_num_threads(1);
  }
  ~SerialBlasScope() {
    if (saved_ != 1) mkl_rt::Get().set_num_threads(saved_);
  }
  static constexpr bool kAvailable = true;

 private:
  int saved_;
#elif defined(OPENBLAS_VERSION)
  SerialBlasScope() : saved_(openblas_get_num_threads()) {
    if (saved_ != 1) openblas_set_num_threads(1);
  }
  ~SerialBlasScope() {
    if (saved_ != 1) openblas_set_num_threads(saved_);
  }
  static constexpr bool kAvailable = true;

 private:
  int saved_;
#else
  static constexpr bool kAvailable = false;  // unknown BLAS: never go parallel around it
#endif
};

// Whether a run with n_items independent heads uses OpenMP threads (each with a single-threaded
// BLAS) rather than the BLAS's own threads. One run uses one pool only: alternating between
// OpenBLAS's pthread pool and libgomp's, each spinning while the other works, cost up to 2x on
// 2 cores (docs/threads.md, docs/blas.md).
inline bool OpenMpHeads(const ab_problem& p, int n_items) {
  return p.threads > 1 && n_items >= p.threads && SerialBlasScope::kAvailable;
}

// Project() on the pool the heads use: with OpenMP heads, the rows are split over the OpenMP
// threads, each a serial GEMM on its slice; otherwise one GEMM threaded inside the BLAS.
inline void ProjectOnPool(bool openmp, int threads, int M, int N, int K, const float* x, int ldx, const float* w,
                          int ldw, const float* bias, float* y, int ldy) {
  if (!openmp) return Project(M, N, K, x, ldx, w, ldw, bias, y, ldy);
  SerialBlasScope serial;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    const int r0 = static_cast<int>(static_cast<int64_t>(M) * t / n);
    const int r1 = static_cast<int>(static_cast<int64_t>(M) * (t + 1) / n);
    if (r1 > r0)
      Project(r1 - r0, N, K, x + static_cast<size_t>(r0) * ldx, ldx, w, ldw, bias, y + static_cast<size_t>(r0) * ldy,
              ldy);
  }
}

// The thread policy for n_items independent heads:
//  - at least as many heads as threads: one OpenMP thread per head, each with its own score
//    buffer (`scores_per_thread` floats) and a single-threaded BLAS (the projections then go
//    through ProjectOnPool on the same OpenMP threads);
//  - fewer heads: heads one after another, each GEMM multi-threaded inside the BLAS, softmax
//    rows serial (see docs/threads.md for why not OpenMP-parallel in between).
// `view(i)` gives head i.
template <class ViewFn>
void AttendHeads(const ab_problem& p, int n_items, ViewFn view, float* scores, size_t scores_per_thread,
                 int row_block) {
  const RowSoftmax softmax(p);
  const int threads = p.threads;
  if (OpenMpHeads(p, n_items)) {
    SerialBlasScope serial;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int it = 0; it < n_items; ++it)
      AttendHead(p, softmax, view(it), scores + omp_get_thread_num() * scores_per_thread, row_block);
  } else {
    for (int it = 0; it < n_items; ++it) AttendHead(p, softmax, view(it), scores, row_block);
  }
}

// Score-buffer slots AttendHeads needs: one per thread when heads go in parallel, else one.
inline int ScoreSlots(const ab_problem& p, int n_items) { return OpenMpHeads(p, n_items) ? p.threads : 1; }

// "OpenBLAS 0.3.21 (pthread), kernel SkylakeX, 2 threads": what produced the numbers.
inline std::string BlasRuntimeInfo() {
#if defined(ATTNBENCH_BLAS_MKL)
  // "oneMKL 2026.2 (GNU OpenMP), code path Intel(R) Architecture processors, 2 BLAS threads,
  // sgemm in /path/libmkl_rt.so.3": the library as MKL itself reports it, and the file the
  // sgemm pointer this plugin calls lies in (dladdr), so the binding is visible.
  const auto& mkl = mkl_rt::Get();
  if (!mkl.ok()) return "oneMKL not loaded: " + mkl.error;
  return mkl.Name() + ", code path " + mkl_rt::ShortCodePath(mkl.code_path) + ", " +
         std::to_string(mkl.get_max_threads()) + " BLAS threads, sgemm in " +
         mkl_rt::LibraryOf(reinterpret_cast<const void*>(MklSgemm()));
#elif defined(OPENBLAS_VERSION)
  // The library actually loaded, not the header compiled against: "OpenBLAS 0.3.21 DYNAMIC_ARCH ..."
  const std::string config = openblas_get_config();
  const size_t sp = config.find(' ', config.find(' ') + 1);
  static const char* kParallel[] = {"sequential", "pthread", "openmp"};
  const int par = openblas_get_parallel();
  return config.substr(0, sp) + " (" + (par >= 0 && par <= 2 ? kParallel[par] : "?") + "), kernel " +
         openblas_get_corename() + ", " + std::to_string(openblas_get_num_threads()) + " BLAS threads";
#else
  return "CBLAS (not OpenBLAS: kernel and threads unknown)";
#endif
}

}  // namespace attnbench::blas_ops
