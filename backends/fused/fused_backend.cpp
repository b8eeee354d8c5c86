// fused: the plugin face of FusedAttention (fused_attention.h). The kernels live in the
// attnbench_fused_kernels library, shared with the per-target unit test.
#include <attnbench/attnbench.h>

#include <string>

#include "fused_attention.h"

namespace {

class FusedBackend {
 public:
  static constexpr const char* kName = "fused";
  static constexpr const char* kDescription =
      "flash-style: fused QKV GEMM and output GEMM with its own Highway GEMM (packed weights, no BLAS), "
      "tiled online-softmax attention (Highway SIMD micro-kernels, causal block skipping), one OpenMP "
      "region over projection panels and batch x heads x query blocks; grouped-query heads (each KV "
      "head read once for its query heads), sliding windows (whole blocks skipped) and KV-cache "
      "decoding (keys split across threads when the query tasks are few)";
  static constexpr bool kAbiV2Problems = true;

  static std::string RuntimeInfo() {
    return std::string("highway target ") + attnbench::FusedAttention::TargetName() +
           "; own GEMM (no BLAS)";
  }

  FusedBackend(const ab_problem& p, const ab_weights& w) : impl_(p, w) {}
  void Run(const float* x, float* out) { impl_.Run(x, out); }
  size_t WorkspaceBytes() const { return impl_.WorkspaceBytes(); }

 private:
  attnbench::FusedAttention impl_;
};

}  // namespace

ATTNBENCH_REGISTER_BACKEND(FusedBackend)
