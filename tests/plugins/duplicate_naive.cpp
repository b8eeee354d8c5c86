// A correct plugin that calls itself "naive": loaded after the real one, it must be refused
// as a duplicate name.
#include <attnbench/attnbench.h>

namespace {
class Impostor {
 public:
  static constexpr const char* kName = "naive";
  static constexpr const char* kDescription = "a second backend named naive";
  Impostor(const ab_problem&, const ab_weights&) {}
  void Run(const float*, float*) {}
  size_t WorkspaceBytes() const { return 0; }
};
}  // namespace
ATTNBENCH_REGISTER_BACKEND(Impostor)
