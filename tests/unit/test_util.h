// Helpers shared by the unit tests: problems from explicit values, running a loaded plugin.
#pragma once

#include <attnbench/attnbench.h>

#include <stdexcept>
#include <string>

#include "backend_handle.h"
#include "grid.h"
#include "plugin_loader.h"
#include "problem_data.h"

namespace attnbench::test {

// One small causal MHA config: B = 1, T, d_in = d_out = d, no dropout, no bias, one thread.
inline Config SmallMhaConfig(int T, int d, int heads = 4) {
  GridSpec g;
  g.variants = "mha";
  g.seq_len = std::to_string(T);
  g.d_in = g.d_out = std::to_string(d);
  g.heads = std::to_string(heads);
  g.batch = "1";
  g.dropout = "0";
  g.qkv_bias = "0";
  g.threads = 1;
  return ExpandGrid(g).at(0);
}

// Runs backend on data through the C ABI; throws with the backend's message on failure.
inline AlignedBuffer<float> RunBackend(const LoadedBackend& b, const ProblemData& data) {
  if (CallResult s = BackendInstance::Supports(b, data.problem); !s)
    throw std::runtime_error("unsupported: " + s.message);
  const ab_weights w = data.Weights();
  Prepared prepared = BackendInstance::Prepare(b, data.problem, w);
  if (!prepared) throw std::runtime_error(prepared.error);
  AlignedBuffer<float> out(OutputElems(data.problem));
  if (CallResult r = prepared->Run(data.x.data(), out.data()); !r) throw std::runtime_error(r.message);
  return out;
}

inline const LoadedBackend& LoadNaive(PluginRegistry& reg) {
  reg.LoadFile(std::string(ATTNBENCH_PLUGIN_DIR) + "/libattnbench-naive.so");
  const LoadedBackend* b = reg.Find("naive");
  if (!b) throw std::runtime_error("naive plugin not found in " ATTNBENCH_PLUGIN_DIR);
  return *b;
}

}  // namespace attnbench::test
