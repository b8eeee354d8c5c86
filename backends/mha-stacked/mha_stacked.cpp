// mha-stacked: the book's MultiHeadAttentionWrapper. H independent single-head attention modules,
// each owning its [d_in, head_dim] column slices of W_q / W_k / W_v (copied out in prepare, as
// separate nn.Linear layers would hold them), run one after another: H small projections of the
// input, the book's full T x T masked scores, outputs concatenated (each head writes its column
// block of the context), then one output projection. All products are BLAS GEMMs, like
// mha-split, so the two differ only in structure.
#include <attnbench/attnbench.h>

#include "kernels/blas/blas_ops.h"

namespace {

using attnbench::AlignedBuffer;
namespace ops = attnbench::blas_ops;

class MhaStacked {
 public:
  static constexpr const char* kName = "mha-stacked";
  static constexpr const char* kDescription =
      "book MultiHeadAttentionWrapper: H single-head modules in sequence, concat, out proj (BLAS)";

  static std::string RuntimeInfo() { return ops::BlasRuntimeInfo(); }

  MhaStacked(const ab_problem& p, const ab_weights& w)
      : p_(p),
        w_(w),
        hd_(attnbench::HeadDim(p)),
        rows_(static_cast<size_t>(p.batch) * p.seq_len),
        slot_(static_cast<size_t>(p.seq_len) * p.seq_len) {
    if (p.qkv_proj) {
      wq_ = SliceColumns(w.w_q), wk_ = SliceColumns(w.w_k), wv_ = SliceColumns(w.w_v);
      q_ = AlignedBuffer<float>(rows_ * hd_), k_ = AlignedBuffer<float>(rows_ * hd_),
      v_ = AlignedBuffer<float>(rows_ * hd_);
    }
    if (p.out_proj) ctx_ = AlignedBuffer<float>(rows_ * p.d_out);
    scores_ = AlignedBuffer<float>(slot_ * ops::ScoreSlots(p, p.batch));
  }

  size_t WorkspaceBytes() const {
    return wq_.bytes() + wk_.bytes() + wv_.bytes() + q_.bytes() + k_.bytes() + v_.bytes() + ctx_.bytes() +
           scores_.bytes();
  }

  void Run(const float* x, float* out) {
    float* ctx = p_.out_proj ? ctx_.data() : out;
    for (int h = 0; h < p_.heads; ++h) Head(h, x, ctx);
    if (p_.out_proj) ops::Project(static_cast<int>(rows_), p_.d_out, p_.d_out, ctx, p_.d_out, w_.w_o, p_.d_out, w_.b_o, out, p_.d_out);
  }

 private:
  // W[:, h*hd:(h+1)*hd] of every head, each a contiguous [d_in, hd] matrix.
  AlignedBuffer<float> SliceColumns(const float* w) const {
    AlignedBuffer<float> s(static_cast<size_t>(p_.heads) * p_.d_in * hd_);
    for (int h = 0; h < p_.heads; ++h)
      for (int r = 0; r < p_.d_in; ++r)
        std::copy_n(w + static_cast<size_t>(r) * p_.d_out + static_cast<size_t>(h) * hd_, hd_,
                    s.data() + (static_cast<size_t>(h) * p_.d_in + r) * hd_);
    return s;
  }

  // One single-head module over the whole batch; writes columns [h*hd, (h+1)*hd) of ctx.
  void Head(int h, const float* x, float* ctx) {
    const int M = static_cast<int>(rows_), din = p_.d_in, T = p_.seq_len;
    const float *q, *k, *v;
    int ld;
    if (p_.qkv_proj) {
      const size_t wo = static_cast<size_t>(h) * din * hd_;
      const auto bias = [&](const float* b) { return b ? b + static_cast<size_t>(h) * hd_ : nullptr; };
      ops::Project(M, hd_, din, x, din, wq_.data() + wo, hd_, bias(w_.b_q), q_.data(), hd_);
      ops::Project(M, hd_, din, x, din, wk_.data() + wo, hd_, bias(w_.b_k), k_.data(), hd_);
      ops::Project(M, hd_, din, x, din, wv_.data() + wo, hd_, bias(w_.b_v), v_.data(), hd_);
      q = q_.data(), k = k_.data(), v = v_.data(), ld = hd_;
    } else {  // simplified: the module's Q = K = V is its column block of x
      q = k = v = x + static_cast<size_t>(h) * hd_, ld = din;
    }
    auto item = [&](int b) {
      const size_t row0 = static_cast<size_t>(b) * T;
      return ops::HeadView{q + row0 * ld, k + row0 * ld, v + row0 * ld, ld, ld, ld,
                           ctx + row0 * p_.d_out + static_cast<size_t>(h) * hd_, p_.d_out, b, h};
    };
    ops::AttendHeads(p_, p_.batch, item, scores_.data(), slot_, T);
  }

  ab_problem p_;
  ab_weights w_;
  int hd_;
  size_t rows_;
  size_t slot_;
  AlignedBuffer<float> wq_, wk_, wv_;  // per-head weight slices, [H][d_in][hd]
  AlignedBuffer<float> q_, k_, v_;     // one head's projections [B*T, hd], reused by every head
  AlignedBuffer<float> ctx_, scores_;
};

}  // namespace

ATTNBENCH_REGISTER_BACKEND(MhaStacked)
