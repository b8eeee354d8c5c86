// Paired, interleaved timing of backend plugins through the C ABI: every case is prepared once,
// then every round runs each case once in turn, so slow drifts of a shared machine hit all of
// them alike and cancel in the per-round ratios (docs/fused.md, "Results"). Unlike
// `attnbench bench --plugin`, a case names a plugin *file*, so two builds of one backend (same
// name inside the .so, which one registry refuses twice) can be timed side by side:
//   paired_timing --seq-len 4096 --rounds 9 fused fused:nc fused:t8192 blas
//   paired_timing --seq-len 1024 /tmp/old/libattnbench-fused.so fused
// A case is a backend name (bin/plugins beside this tool) or a plugin path, optionally followed
// by :nc / :c (mask forced off / on) and :t<T> (another sequence length).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <sstream>
#include <string>
#include <vector>

#include "backend_handle.h"
#include "plugin_loader.h"
#include "problem_data.h"
#include "sysinfo.h"

namespace attnbench {
namespace {

struct Options {
  std::string variant = "mha";
  int batch = 1, seq_len = 4096, d_in = 768, d_out = 768, heads = 12, threads = 2, rounds = 9;
  int causal = -1;  // -1: the variant's default
  uint64_t seed = 1;
  std::vector<std::string> cases;
};

struct Case {
  std::string label;
  std::unique_ptr<PluginRegistry> registry;  // one per case: two files may hold the same name
  ab_problem problem{};
  ProblemData data;
  ab_weights weights{};  // views of data, handed to prepare: outlives the instance
  AlignedBuffer<float> out;
  std::optional<BackendInstance> instance;  // declared last: destroyed before what it reads
  std::vector<double> ms;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// "fused:nc:t8192" -> the plugin file and the problem it runs; throws on a bad suffix.
std::string ParseCase(const std::string& text, ab_problem* p) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ':');) parts.push_back(part);
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i] == "nc")
      p->causal = 0;
    else if (parts[i] == "c")
      p->causal = 1;
    else if (parts[i].size() > 1 && parts[i][0] == 't')
      p->seq_len = std::stoi(parts[i].substr(1));
    else
      throw std::invalid_argument("unknown suffix ':" + parts[i] + "' in " + text + " (nc, c or t<T>)");
  }
  const std::string& plugin = parts.front();
  const bool is_path = plugin.find('/') != std::string::npos || (plugin.size() > 3 && plugin.substr(plugin.size() - 3) == ".so");
  return is_path ? plugin : DefaultPluginDir() + "/libattnbench-" + plugin + ".so";
}

// Loads, checks and prepares one case, then runs it once (the first run pays for page faults).
void LoadAndPrepare(Case& c, const std::string& path, uint64_t seed) {
  c.registry = std::make_unique<PluginRegistry>();
  if (!c.registry->LoadFile(path)) throw std::runtime_error(c.registry->errors().front());
  const LoadedBackend& backend = c.registry->backends().front();
  if (CallResult s = BackendInstance::Supports(backend, c.problem); !s)
    throw std::runtime_error(c.label + ": unsupported: " + s.message);
  c.data = MakeRandomProblemData(c.problem, seed);
  c.out = AlignedBuffer<float>(OutputElems(c.problem));
  c.weights = c.data.Weights();
  Prepared prepared = BackendInstance::Prepare(backend, c.problem, c.weights);
  if (!prepared) throw std::runtime_error(c.label + ": " + prepared.error);
  c.instance = std::move(prepared.instance);
  if (CallResult r = c.instance->Run(c.data.x.data(), c.out.data()); !r) throw std::runtime_error(c.label + ": " + r.message);
}

double TimeRun(Case& c) {
  const auto t0 = std::chrono::steady_clock::now();
  const CallResult r = c.instance->Run(c.data.x.data(), c.out.data());
  const auto t1 = std::chrono::steady_clock::now();
  if (!r) throw std::runtime_error(c.label + ": " + r.message);
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

int Run(const Options& o) {
  const std::optional<Variant> variant = ParseVariant(o.variant);
  if (!variant) throw std::invalid_argument("unknown variant " + o.variant);
  SetThreads(o.threads);
  std::vector<Case> cases(o.cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    Case& c = cases[i];
    c.label = o.cases[i];
    c.problem = MakeProblem(*variant, o.batch, o.seq_len, o.d_in, o.d_out, o.heads);
    if (o.causal >= 0) c.problem.causal = o.causal;
    c.problem.threads = o.threads;
    const std::string path = ParseCase(o.cases[i], &c.problem);
    LoadAndPrepare(c, path, o.seed);
  }
  for (int r = 0; r < o.rounds; ++r)
    for (Case& c : cases) c.ms.push_back(TimeRun(c));
  for (const Case& c : cases) {
    std::vector<double> ratio;
    for (int r = 0; r < o.rounds; ++r) ratio.push_back(c.ms[r] / cases.front().ms[r]);
    std::vector<double> sorted = c.ms;
    std::sort(sorted.begin(), sorted.end());
    std::printf("%-44s T=%-5d causal=%d  median %9.2f ms  min %9.2f ms  paired ratio to the first %.3f\n",
                c.label.c_str(), c.problem.seq_len, c.problem.causal, Median(c.ms), sorted.front(), Median(ratio));
  }
  return 0;
}

}  // namespace
}  // namespace attnbench

int main(int argc, char** argv) {
  attnbench::Options o;
  CLI::App app{"Interleaved timing of backend plugins: every round runs each case once; reports medians and "
               "the median per-round ratio to the first case"};
  app.add_option("--variant", o.variant, "simplified, self, causal, mha")->capture_default_str();
  app.add_option("--batch", o.batch)->capture_default_str();
  app.add_option("--seq-len", o.seq_len)->capture_default_str();
  app.add_option("--d-in", o.d_in)->capture_default_str();
  app.add_option("--d-out", o.d_out)->capture_default_str();
  app.add_option("--heads", o.heads)->capture_default_str();
  app.add_option("--causal", o.causal, "1 or 0 to force the mask (default: the variant's)");
  app.add_option("--threads", o.threads)->capture_default_str();
  app.add_option("--rounds", o.rounds)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--seed", o.seed, "data seed")->capture_default_str();
  app.add_option("cases", o.cases, "backend name or plugin path, with optional :nc, :c, :t<T>")->required();
  CLI11_PARSE(app, argc, argv);
  try {
    return attnbench::Run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "paired_timing: %s\n", e.what());
    return 2;
  }
}
