// highway: the plugin face of HwyAttention (attention_hwy.h). The kernels live in the
// attnbench_hwy_kernels library, shared with the per-target unit test.
#include <attnbench/attnbench.h>

#include <string>

#include "attention_hwy.h"

namespace {

class HighwayAttention {
 public:
  static constexpr const char* kName = "highway";
  static constexpr const char* kDescription =
      "Google Highway SIMD (runtime ISA dispatch): register-blocked MatMul, vectorised softmax, "
      "OpenMP over batch x heads x query blocks";

  static std::string RuntimeInfo() {
    return std::string("highway target ") + attnbench::HwyAttention::TargetName();
  }

  static constexpr bool kAbiV2Problems = true;  // grouped-query heads, windows, the KV cache

  HighwayAttention(const ab_problem& p, const ab_weights& w) : impl_(p, w) {}
  void Run(const float* x, float* out) { impl_.Run(x, out); }
  size_t WorkspaceBytes() const { return impl_.WorkspaceBytes(); }

 private:
  attnbench::HwyAttention impl_;
};

}  // namespace

ATTNBENCH_REGISTER_BACKEND(HighwayAttention)
