// Helpers shared by the unit tests: problems from explicit values, running a loaded plugin.
#pragma once

#include <attnbench/attnbench.h>

#include <stdexcept>
#include <string>

#include "plugin_loader.h"
#include "problem_data.h"

namespace attnbench::test {

// Runs backend on data through the C ABI; throws with the backend's message on failure.
inline AlignedBuffer<float> RunBackend(const LoadedBackend& b, const ProblemData& data) {
  const ab_backend_i* t = b.table;
  char msg[512] = {0};
  void* state = nullptr;
  const ab_weights w = data.Weights();
  if (!t->supports(&data.problem, msg, sizeof msg)) throw std::runtime_error(std::string("unsupported: ") + msg);
  if (t->prepare(&data.problem, &w, &state, msg, sizeof msg) != AB_OK) throw std::runtime_error(msg);
  AlignedBuffer<float> out(OutputElems(data.problem));
  const int rc = t->run(state, data.x.data(), out.data(), msg, sizeof msg);
  t->destroy(state);
  if (rc != AB_OK) throw std::runtime_error(msg);
  return out;
}

inline const LoadedBackend& LoadNaive(PluginRegistry& reg) {
  reg.LoadFile(std::string(ATTNBENCH_PLUGIN_DIR) + "/libattnbench-naive.so");
  const LoadedBackend* b = reg.Find("naive");
  if (!b) throw std::runtime_error("naive plugin not found in " ATTNBENCH_PLUGIN_DIR);
  return *b;
}

}  // namespace attnbench::test
