// The mutants' attention (mutant.cpp): one straightforward backend, correct for kind "none" and
// with one deliberate bug for every other kind (the list is tests/plugins/CMakeLists.txt's).
// Compiled once; each mutant plugin is mutant_entry.cpp with its kind, and the hostile plugins
// (hostile.cpp) wrap kind "none".
#ifndef ATTNBENCH_TESTS_PLUGINS_MUTANT_H_
#define ATTNBENCH_TESTS_PLUGINS_MUTANT_H_

#include <attnbench/attnbench.h>

#include <cstddef>
#include <string_view>

namespace attnbench_test {

class Mutant {
 public:
  Mutant(std::string_view kind, const ab_problem& p, const ab_weights& w);
  ~Mutant();
  Mutant(const Mutant&) = delete;
  Mutant& operator=(const Mutant&) = delete;
  void Run(const float* x, float* out);
  size_t WorkspaceBytes() const;

 private:
  void* impl_;  // MutantAttention, private to mutant.cpp
};

}  // namespace attnbench_test

#endif  // ATTNBENCH_TESTS_PLUGINS_MUTANT_H_
