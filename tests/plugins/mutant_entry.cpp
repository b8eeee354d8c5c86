// One mutant plugin: the backend table of kind MUTANT_KIND around the shared code (mutant.h).
#include <attnbench/attnbench.h>

#include "mutant.h"

#ifndef MUTANT_KIND
#error "define MUTANT_KIND"
#endif

namespace {

class MutantBackend {
 public:
#ifdef MUTANT_NAME
  static constexpr const char* kName = MUTANT_NAME;
#else
  static constexpr const char* kName = "mutant-" MUTANT_KIND;
#endif
#ifdef MUTANT_DESCRIPTION
  static constexpr const char* kDescription = MUTANT_DESCRIPTION;
#else
  static constexpr const char* kDescription = "deliberately wrong backend for tests: " MUTANT_KIND;
#endif
  static constexpr bool kAbiV2Problems = true;

  MutantBackend(const ab_problem& p, const ab_weights& w) : impl_(MUTANT_KIND, p, w) {}
  void Run(const float* x, float* out) { impl_.Run(x, out); }
  size_t WorkspaceBytes() const { return impl_.WorkspaceBytes(); }

 private:
  attnbench_test::Mutant impl_;
};

}  // namespace

ATTNBENCH_REGISTER_BACKEND(MutantBackend)
