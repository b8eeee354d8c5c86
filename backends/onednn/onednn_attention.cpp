// onednn: every product is a oneDNN matmul primitive and the softmax is oneDNN's softmax
// primitive; all primitives, memory descriptors, memory objects, argument maps and a user-mode
// scratchpad are made in prepare, Run only swaps data handles and executes.
//
//   projections  [B*T, d_in] . [d_in, d_out] (+ bias) -> one matmul, run for Q, K, V
//   Q.K^T        per batch and block of query rows, a 3-D matmul whose batch dimension is the
//                heads: Q [H, rows, hd] and K^T [H, hd, T] are strided views into the projected
//                [T, d_out] buffers (strides hd / d_out / 1), nothing is copied. The 1/sqrt(hd)
//                scale is an output scale. The causal mask is an in-place oneDNN binary add of
//                a prepared [rows, T] tensor of 0 / -inf (one slice per block, by data handle),
//                broadcast over heads (as a matmul post-op, 2.6 falls back to ref:any matmul).
//   softmax      oneDNN softmax on the last axis of the [H, rows, T] scores.
//   dropout      the shared counter-based mask of dropout.h, a plain OpenMP loop over the
//                softmax output (not a oneDNN primitive).
//   P.V          3-D matmul [H, rows, T] . [H, T, hd] writing the strided context view.
//   out_proj     [B*T, d_out] . [d_out, d_out] + b_o.
// Query rows go in blocks of kRowBlock so the score buffer is H x 256 x T, not H x T x T.
// ONEDNN_VERBOSE=1 prints which implementation each primitive picked.
#include <attnbench/attnbench.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

namespace {

using attnbench::AlignedBuffer;
using dnnl::memory;
using dt = dnnl::memory::data_type;
using Args = std::unordered_map<int, memory>;

const char* IsaName(dnnl::cpu_isa isa) {
  using I = dnnl::cpu_isa;
  switch (isa) {
    case I::sse41: return "sse41";
    case I::avx: return "avx";
    case I::avx2: return "avx2";
    case I::avx512_mic: return "avx512_mic";
    case I::avx512_mic_4ops: return "avx512_mic_4ops";
    case I::avx512_core: return "avx512_core";
    case I::avx512_core_vnni: return "avx512_core_vnni";
    case I::avx512_core_bf16: return "avx512_core_bf16";
    case I::avx512_core_amx: return "avx512_core_amx";
    case I::avx2_vnni: return "avx2_vnni";
    case I::all: return "all";
    default: return "isa?";
  }
}

class OnednnAttention {
 public:
  static constexpr const char* kName = "onednn";
  static constexpr const char* kDescription =
      "oneDNN matmul primitives (projections with bias, Q.K^T with output scale, P.V on strided "
      "head views), binary add of a causal -inf mask, oneDNN softmax";
  static constexpr int kRowBlock = 256;

  static std::string RuntimeInfo() {
    const dnnl_version_t* v = dnnl_version();
    std::string s = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                    std::to_string(v->patch);
    if (v->hash && *v->hash) s += std::string(" (") + v->hash + ")";
    s += ", isa " + std::string(IsaName(dnnl::get_effective_cpu_isa()));
    s += ", cpu runtime " + std::string(v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other");
    s += ", " + std::to_string(omp_get_max_threads()) + " threads";
    return s;
  }

  OnednnAttention(const ab_problem& p, const ab_weights& w)
      : p_(p), eng_(dnnl::engine::kind::cpu, 0), stream_(eng_) {
    const memory::dim T = p.seq_len, din = p.d_in, dout = p.d_out, H = p.heads;
    const memory::dim hd = dout / H, M = static_cast<memory::dim>(p.batch) * T;
    rows_ = static_cast<size_t>(M);
    if (p.qkv_proj) {
      q_ = AlignedBuffer<float>(rows_ * dout), k_ = AlignedBuffer<float>(rows_ * dout),
      v_ = AlignedBuffer<float>(rows_ * dout);
      proj_ = MakeProjection(M, din, dout, w.w_q, p.qkv_bias ? w.b_q : nullptr, &proj_args_);
      // K and V share the primitive; only the weight / bias / dst handles differ.
      wk_ = w.w_k, wv_ = w.w_v, wq_ = w.w_q, bq_ = w.b_q, bk_ = w.b_k, bv_ = w.b_v;
    }
    if (p.out_proj) {
      ctx_ = AlignedBuffer<float>(rows_ * dout);
      oproj_ = MakeProjection(M, dout, dout, w.w_o, w.b_o, &oproj_args_);
    }
    if (p.causal) {
      mask_ = AlignedBuffer<float>(static_cast<size_t>(T) * T);
      const float ninf = -std::numeric_limits<float>::infinity();
      for (memory::dim i = 0; i < T; ++i)
        for (memory::dim j = 0; j < T; ++j) mask_.data()[i * T + j] = j <= i ? 0.0f : ninf;
    }
    const memory::dim rb = std::min<memory::dim>(T, kRowBlock);
    scores_ = AlignedBuffer<float>(static_cast<size_t>(H * rb * T));
    const float scale = p.qkv_proj ? 1.0f / std::sqrt(static_cast<float>(hd)) : 1.0f;
    MakeAttnSet(&full_, rb, T, dout, H, hd, scale);
    if (T % rb) MakeAttnSet(&tail_, T % rb, T, dout, H, hd, scale);
    scratch_ = AlignedBuffer<unsigned char>(std::max<size_t>(scratch_bytes_, 64));
    scratch_mem_ = memory(memory::desc({static_cast<memory::dim>(scratch_.bytes())}, dt::u8, memory::format_tag::a),
                          eng_, scratch_.data());
    for (Args* a : all_args_) (*a)[DNNL_ARG_SCRATCHPAD] = scratch_mem_;
  }

  size_t WorkspaceBytes() const {
    return q_.bytes() + k_.bytes() + v_.bytes() + ctx_.bytes() + scores_.bytes() + mask_.bytes() +
           scratch_.bytes();
  }

  void Run(const float* x, float* out) {
    const size_t T = p_.seq_len, dout = p_.d_out;
    const float *q = x, *k = x, *v = x;
    if (p_.qkv_proj) {
      auto project = [&](const float* wt, const float* b, float* dst) {
        proj_args_[DNNL_ARG_SRC].set_data_handle(const_cast<float*>(x));
        proj_args_[DNNL_ARG_WEIGHTS].set_data_handle(const_cast<float*>(wt));
        if (p_.qkv_bias) proj_args_[DNNL_ARG_BIAS].set_data_handle(const_cast<float*>(b));
        proj_args_[DNNL_ARG_DST].set_data_handle(dst);
        proj_.execute(stream_, proj_args_);
      };
      project(wq_, bq_, q_.data());
      project(wk_, bk_, k_.data());
      project(wv_, bv_, v_.data());
      q = q_.data(), k = k_.data(), v = v_.data();
    }
    float* ctx = p_.out_proj ? ctx_.data() : out;
    const size_t rb = full_.rows;
    for (int b = 0; b < p_.batch; ++b) {
      const size_t base = b * T * dout;
      for (size_t r0 = 0; r0 < T; r0 += rb) {
        AttnSet& s = (T - r0 >= rb) ? full_ : tail_;
        s.q.set_data_handle(const_cast<float*>(q + base + r0 * dout));
        s.kt.set_data_handle(const_cast<float*>(k + base));
        if (p_.causal) s.mask.set_data_handle(mask_.data() + r0 * T);
        s.qk.execute(stream_, s.qk_args);
        if (p_.causal) s.add_mask.execute(stream_, s.mask_args);
        s.sm.execute(stream_, s.sm_args);
        if (p_.dropout_p > 0.0f) Dropout(b, r0, s.rows);
        s.v.set_data_handle(const_cast<float*>(v + base));
        s.ctx.set_data_handle(ctx + base + r0 * dout);
        s.pv.execute(stream_, s.pv_args);
      }
    }
    if (p_.out_proj) {
      oproj_args_[DNNL_ARG_SRC].set_data_handle(ctx);
      oproj_args_[DNNL_ARG_DST].set_data_handle(out);
      oproj_.execute(stream_, oproj_args_);
    }
    stream_.wait();
  }

 private:
  struct AttnSet {
    memory::dim rows = 0;
    dnnl::matmul qk, pv;
    dnnl::softmax_forward sm;
    dnnl::binary add_mask;
    memory q, kt, s, v, ctx, mask;
    Args qk_args, mask_args, sm_args, pv_args;
  };

  dnnl::primitive_attr UserScratch() {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return attr;
  }
  void Track(const memory::desc& scratch) { scratch_bytes_ = std::max(scratch_bytes_, scratch.get_size()); }

  dnnl::matmul MakeProjection(memory::dim M, memory::dim K, memory::dim N, const float* wt,
                              const float* bias, Args* args) {
    memory::desc src({M, K}, dt::f32, {K, 1}), wei({K, N}, dt::f32, {N, 1}), dst({M, N}, dt::f32, {N, 1});
    memory::desc bmd = bias ? memory::desc({1, N}, dt::f32, {N, 1}) : memory::desc();
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, bmd, dst), UserScratch(), eng_);
    Track(pd.scratchpad_desc());
    (*args)[DNNL_ARG_SRC] = memory(src, eng_, nullptr);
    (*args)[DNNL_ARG_WEIGHTS] = memory(wei, eng_, const_cast<float*>(wt));
    if (bias) (*args)[DNNL_ARG_BIAS] = memory(bmd, eng_, const_cast<float*>(bias));
    (*args)[DNNL_ARG_DST] = memory(dst, eng_, nullptr);
    all_args_.push_back(args);
    return dnnl::matmul(pd);
  }

  void MakeAttnSet(AttnSet* s, memory::dim rows, memory::dim T, memory::dim dout, memory::dim H,
                   memory::dim hd, float scale) {
    s->rows = rows;
    // Head h of Q rows [r0, r0+rows): element (h, i, c) at q + (r0+i)*dout + h*hd + c.
    memory::desc qmd({H, rows, hd}, dt::f32, {hd, dout, 1});
    memory::desc ktmd({H, hd, T}, dt::f32, {hd, 1, dout});  // K^T: (h, c, j) at j*dout + h*hd + c
    memory::desc smd({H, rows, T}, dt::f32, {rows * T, T, 1});
    memory::desc vmd({H, T, hd}, dt::f32, {hd, dout, 1});
    memory::desc cmd({H, rows, hd}, dt::f32, {hd, dout, 1});
    dnnl::primitive_attr qk_attr = UserScratch();
    if (scale != 1.0f) qk_attr.set_output_scales(0, {scale});
    memory::desc mmd({1, rows, T}, dt::f32, {rows * T, T, 1});
    dnnl::matmul::primitive_desc qk_pd(dnnl::matmul::desc(qmd, ktmd, smd), qk_attr, eng_);
    dnnl::softmax_forward::primitive_desc sm_pd(
        dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, smd, 2), UserScratch(), eng_);
    dnnl::matmul::primitive_desc pv_pd(dnnl::matmul::desc(smd, vmd, cmd), UserScratch(), eng_);
    Track(qk_pd.scratchpad_desc()), Track(sm_pd.scratchpad_desc()), Track(pv_pd.scratchpad_desc());
    if (p_.causal) {
      // In-place binary add of the [1, rows, T] 0 / -inf mask, broadcast over the heads. (As a
      // binary post-op of the Q.K^T matmul it would push oneDNN 2.6 to its reference matmul.)
      dnnl::binary::primitive_desc mask_pd(dnnl::binary::desc(dnnl::algorithm::binary_add, smd, mmd, smd),
                                           UserScratch(), eng_);
      Track(mask_pd.scratchpad_desc());
      s->add_mask = dnnl::binary(mask_pd);
    }
    s->q = memory(qmd, eng_, nullptr);
    s->kt = memory(ktmd, eng_, nullptr);
    s->s = memory(smd, eng_, scores_.data());
    s->v = memory(vmd, eng_, nullptr);
    s->ctx = memory(cmd, eng_, nullptr);
    s->qk_args = {{DNNL_ARG_SRC, s->q}, {DNNL_ARG_WEIGHTS, s->kt}, {DNNL_ARG_DST, s->s}};
    if (p_.causal) {
      s->mask = memory(mmd, eng_, mask_.data());
      s->mask_args = {{DNNL_ARG_SRC_0, s->s}, {DNNL_ARG_SRC_1, s->mask}, {DNNL_ARG_DST, s->s}};
      all_args_.push_back(&s->mask_args);
    }
    s->sm_args = {{DNNL_ARG_SRC, s->s}, {DNNL_ARG_DST, s->s}};
    s->pv_args = {{DNNL_ARG_SRC, s->s}, {DNNL_ARG_WEIGHTS, s->v}, {DNNL_ARG_DST, s->ctx}};
    s->qk = dnnl::matmul(qk_pd);
    s->sm = dnnl::softmax_forward(sm_pd);
    s->pv = dnnl::matmul(pv_pd);
    all_args_.push_back(&s->qk_args), all_args_.push_back(&s->sm_args), all_args_.push_back(&s->pv_args);
  }

  // Inverted dropout on the softmax output of batch b, query rows [r0, r0+rows), all heads.
  void Dropout(int b, size_t r0, memory::dim rows) {
    const size_t T = p_.seq_len;
    const uint64_t thr = ab_dropout_threshold(p_.dropout_p);
    const float keep_scale = 1.0f / (1.0f - p_.dropout_p);
    const int64_t n = static_cast<int64_t>(p_.heads) * rows;
    float* s = scores_.data();
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n; ++r) {
      const int64_t h = r / rows, i = r % rows;
      const uint64_t key = ab_dropout_row_key(p_.dropout_seed, b, h, r0 + i);
      float* row = s + r * T;
      for (size_t j = 0; j < T; ++j) row[j] = ab_dropout_keep(key, j, thr) ? row[j] * keep_scale : 0.0f;
    }
  }

  ab_problem p_;
  dnnl::engine eng_;
  dnnl::stream stream_;
  size_t rows_ = 0, scratch_bytes_ = 0;
  const float *wq_ = nullptr, *wk_ = nullptr, *wv_ = nullptr, *bq_ = nullptr, *bk_ = nullptr, *bv_ = nullptr;
  dnnl::matmul proj_, oproj_;
  Args proj_args_, oproj_args_;
  AttnSet full_, tail_;
  std::vector<Args*> all_args_;
  memory scratch_mem_;
  AlignedBuffer<float> q_, k_, v_, ctx_, scores_, mask_;
  AlignedBuffer<unsigned char> scratch_;
};

}  // namespace

ATTNBENCH_REGISTER_BACKEND(OnednnAttention)
