// blas: every matrix product is one cblas_sgemm on a strided view. Q, K, V are projected for the
// whole batch at once ([B*T, d_in] . [d_in, d_out]); a head is a column block of them, addressed
// through the leading dimension, never copied. Scores are computed 128 query rows at a time, so
// a causal block only multiplies the keys it can see and the score buffer is [128, T] per
// thread, not T x T. Softmax is a plain loop.
//
// Grouped-query heads, sliding windows and the KV cache (ABI version 2, kernels/blas/attend_kv.h):
// K and V are projected kv_heads * head_dim wide and query head h's GEMMs take KV head
// KvHeadOf(h)'s columns; a row block multiplies only the keys its rows can see, the cached ones
// read straight from the host's cache (no copy: that read is the run's work), the new ones from K.
//
// The same file is the blas-mkl plugin (backends/blas-mkl/CMakeLists.txt): compiled with
// ATTNBENCH_BLAS_MKL, blas_ops.h calls oneMKL through dlsym'ed pointers instead of cblas_sgemm.
#include <attnbench/attnbench.h>

#include <stdexcept>

#include "kernels/blas/attend_kv.h"
#include "kernels/blas/blas_ops.h"

namespace {

using attnbench::AlignedBuffer;
namespace ops = attnbench::blas_ops;

class BlasAttention {
 public:
#ifdef ATTNBENCH_BLAS_MKL
  static constexpr const char* kName = "blas-mkl";
  static constexpr const char* kDescription =
      "the blas backend on oneMKL (dlopen'ed libmkl_rt, GNU OpenMP layer): sgemm for projections, Q.K^T and P.V "
      "on strided head views; causal blocks skip masked keys";
#else
  static constexpr const char* kName = "blas";
  static constexpr const char* kDescription =
      "CBLAS sgemm for projections, Q.K^T and P.V on strided head views; causal blocks skip masked keys";
#endif
  static constexpr bool kAbiV2Problems = true;  // grouped-query heads, windows, the KV cache
  static constexpr int kRowBlock = 128;

  static std::string RuntimeInfo() { return ops::BlasRuntimeInfo(); }
  static std::string Supports(const ab_problem&) { return ops::BlasUnavailable(); }

  BlasAttention(const ab_problem& p, const ab_weights& w)
      : p_(p),
        w_(w),
        rows_(static_cast<size_t>(p.batch) * p.seq_len),
        row_block_(std::min(kRowBlock, p.seq_len)),
        slot_(static_cast<size_t>(row_block_) * ops::KvScoreWidth(p, row_block_)) {
    if (const std::string why = ops::BlasUnavailable(); !why.empty()) throw std::runtime_error(why);
    const size_t n = rows_ * p.d_out, n_kv = rows_ * attnbench::KvDim(p);
    if (p.qkv_proj) q_ = AlignedBuffer<float>(n), k_ = AlignedBuffer<float>(n_kv), v_ = AlignedBuffer<float>(n_kv);
    if (p.out_proj) ctx_ = AlignedBuffer<float>(n);
    scores_ = AlignedBuffer<float>(slot_ * ops::ScoreSlots(p, p.batch * p.heads));
  }

  size_t WorkspaceBytes() const { return q_.bytes() + k_.bytes() + v_.bytes() + ctx_.bytes() + scores_.bytes(); }

  void Run(const float* x, float* out) {
    ops::UseBlasThreads(p_.threads);
    const int M = static_cast<int>(rows_), din = p_.d_in, dout = p_.d_out, kvd = attnbench::KvDim(p_);
    // Simplified attention has Q = K = V = X: the heads read x directly.
    const float *q = x, *k = x, *v = x;
    int ldq = din, ldkv = din;
    const bool omp = ops::OpenMpHeads(p_, p_.batch * p_.heads);  // one thread pool per run
    if (p_.qkv_proj) {
      ops::ProjectOnPool(omp, p_.threads, M, dout, din, x, din, w_.w_q, dout, w_.b_q, q_.data(), dout);
      ops::ProjectOnPool(omp, p_.threads, M, kvd, din, x, din, w_.w_k, kvd, w_.b_k, k_.data(), kvd);
      ops::ProjectOnPool(omp, p_.threads, M, kvd, din, x, din, w_.w_v, kvd, w_.b_v, v_.data(), kvd);
      q = q_.data(), k = k_.data(), v = v_.data();
      ldq = dout, ldkv = kvd;
    }
    // Without an output projection the context is the output: write it there directly.
    float* ctx = p_.out_proj ? ctx_.data() : out;
    const int T = p_.seq_len, hd = attnbench::HeadDim(p_);
    const size_t cache_head = static_cast<size_t>(p_.past_len) * hd;  // floats of one KV head's cache
    auto head = [&](int it) {
      const int b = it / p_.heads, h = it % p_.heads, g = attnbench::KvHeadOf(p_, h);
      const size_t row0 = static_cast<size_t>(b) * T;
      const size_t kv_off = row0 * ldkv + static_cast<size_t>(g) * hd;
      const size_t cache_off = (static_cast<size_t>(b) * p_.kv_heads + g) * cache_head;
      const bool cached = p_.past_len > 0;
      return ops::KvHeadView{q + row0 * ldq + static_cast<size_t>(h) * hd, ldq, k + kv_off, v + kv_off, ldkv, ldkv,
                             cached ? w_.k_cache + cache_off : nullptr, cached ? w_.v_cache + cache_off : nullptr,
                             ctx + row0 * dout + static_cast<size_t>(h) * hd, dout, b, h};
    };
    ops::AttendHeadsKv(p_, p_.batch * p_.heads, head, scores_.data(), slot_, row_block_);
    if (p_.out_proj) ops::ProjectOnPool(omp, p_.threads, M, dout, dout, ctx, dout, w_.w_o, dout, w_.b_o, out, dout);
  }

 private:
  ab_problem p_;
  ab_weights w_;  // the host keeps the weights alive until destroy: no copy needed
  size_t rows_;
  int row_block_;
  size_t slot_;  // floats of one score buffer
  AlignedBuffer<float> q_, k_, v_, ctx_, scores_;
};

}  // namespace

ATTNBENCH_REGISTER_BACKEND(BlasAttention)
