// attnbench explain: one small problem computed step by step in the book's order and words
// (harness/explain.h), from a built-in example (--example book|seed), the problem flags or
// --input/--weights files; --backend X puts that backend's output beside the reference, row by
// row, and diagnoses a FAIL (harness/diagnose.h).
#include <cmath>
#include <cstdio>
#include <iostream>
#include <random>

#include "../backend_handle.h"
#include "../explain.h"
#include "../problem_keys.h"
#include "../reference.h"
#include "../sysinfo.h"
#include "../validate.h"
#include "cli_common.h"
#include "commands.h"
#include "problem_files.h"

namespace attnbench::cli {

namespace {

struct ExplainOptions {
  PluginFlags plugins;
  GridSpec grid;
  ProblemFiles files;
  std::string example, backend;
  uint64_t data_seed = 1;
  bool json = false;
  RenderOptions render;
};

// Explain keeps every intermediate matrix of every head: a problem to read, not to benchmark.
constexpr int32_t kMaxExplainSeqLen = 512;
constexpr int32_t kMaxExplainWidth = 4096;

// The explain defaults: mha with two-column heads, small enough to read whole.
GridSpec ExplainDefaults() {
  GridSpec g = RunDefaults();
  g.seq_len = "4";
  g.d_in = "8";
  g.d_out = "8";
  return g;
}

BackendComparison CompareBackend(const LoadedBackend& b, const ProblemData& data, const Explanation& e) {
  const ab_problem& p = data.problem;
  BackendComparison cmp;
  cmp.backend = b.name;
  if (CallResult s = BackendInstance::Supports(b, p); !s) {
    cmp.status = "UNSUPPORTED";
    cmp.reason = s.message;
    return cmp;
  }
  Prepared prepared = BackendInstance::Prepare(b, p, data.Weights());
  if (!prepared) {
    cmp.status = "FAIL";
    cmp.reason = "prepare failed: " + prepared.error;
    return cmp;
  }
  AlignedBuffer<float> out(OutputElems(p));
  Poison(out.data(), out.size());
  const CallResult run = prepared->Run(data.x.data(), out.data());
  prepared.instance.reset();
  if (!run) {
    cmp.status = "FAIL";
    cmp.reason = "run failed: " + run.message;
    return cmp;
  }
  const ReferenceResult ref = ComputeReference(data, AllRows(p.seq_len));
  const CheckResult r = CompareOutput(p, out.data(), ref);
  cmp.status = StatusName(r.status);
  cmp.reason = r.reason;
  const LabeledMatrix& expect = ExplainedOutput(e);
  cmp.output = expect;
  cmp.output.name = b.name;
  for (int i = 0; i < expect.rows; ++i) {
    double num = 0.0, den = 0.0;
    for (int c = 0; c < expect.cols; ++c) {
      const double got = out[static_cast<size_t>(i) * expect.cols + c], want = expect.At(i, c);
      cmp.output.values[static_cast<size_t>(i) * expect.cols + c] = got;
      num += (got - want) * (got - want);
      den += want * want;
    }
    cmp.row_error.push_back(den > 0 ? std::sqrt(num / den) : std::sqrt(num));
  }
  if (r.status == Status::kFail) cmp.diagnosis = Diagnose(data, out.data(), r.tol.rel_l2);
  return cmp;
}

int RunExplain(ExplainOptions& o, const CLI::App& sub) {
  if (o.render.precision < 0 || o.render.precision > 17) throw InputError("--precision must be in [0, 17]");
  if (o.render.max_rows < 4 || o.render.max_cols < 4) throw InputError("--max-rows and --max-cols must be >= 4");
  Config config{};
  ProblemData data;
  std::vector<std::string> tokens, notes;
  if (!o.example.empty()) {
    // An example is a whole problem: a flag that would change it is a contradiction, not a tweak.
    for (const std::string& f : GridFlagNames())
      if (sub.count(f)) throw InputError("--example " + o.example + " sets the problem; drop " + f);
    if (!o.files.input.empty() || !o.files.weights_dir.empty())
      throw InputError("--example " + o.example + " sets the problem; drop --input / --weights");
    Example ex = MakeExample(o.example);
    config = ex.config;
    data = std::move(ex.data);
    tokens = std::move(ex.tokens);
    notes = std::move(ex.notes);
  } else {
    TakeShapeFromFiles(o.files, o.grid, sub);
    const std::vector<Config> configs = ExpandGrid(o.grid);
    if (configs.size() != 1)
      throw InputError("explain takes one problem; the flags describe " + std::to_string(configs.size()) +
                       " (give single values, not lists)");
    config = configs[0];
    const ab_problem& p = config.problem;
    if (p.seq_len > kMaxExplainSeqLen || p.d_in > kMaxExplainWidth || p.d_out > kMaxExplainWidth)
      throw InputError("explain is for problems small enough to read: seq-len <= " + std::to_string(kMaxExplainSeqLen) +
                       ", d-in and d-out <= " + std::to_string(kMaxExplainWidth) + " (got " + Describe(p) + ")");
    // Its steps and matrices are those of chapter 3 (K and V one head per query head, no cache).
    if (UsesAbiV2Fields(p))
      throw InputError("explain shows the chapter-3 problems; kv-heads, window and past-len are not explained "
                       "(use run --dump and scripts/reference.py)");
    CheckMemory(config);
    data = MakeRandomProblemData(p, o.data_seed);
    LoadProblemFiles(o.files, data);
  }
  Explanation e = ExplainProblem(config, data, tokens);
  e.example = o.example;
  e.notes.insert(e.notes.begin(), notes.begin(), notes.end());

  if (!o.backend.empty()) {
    PluginRegistry reg;
    LoadPlugins(o.plugins, reg);
    const LoadedBackend* b = reg.Find(o.backend);
    if (!b) SelectBackends(reg, o.backend);  // throws the "unknown backend" message
    SetThreads(o.grid.threads);
    e.backend = CompareBackend(*b, data, e);
  }
  if (o.json)
    std::cout << ExplanationJson(e).dump(2) << "\n";
  else
    std::cout << RenderExplanation(e, o.render);
  return e.backend && e.backend->status == "FAIL" ? kExitFailed : kExitOk;
}

}  // namespace

void AddExplainCommand(CLI::App& app, int& rc) {
  static ExplainOptions o;
  CLI::App* sub = app.add_subcommand(
      "explain",
      "Show the computation of one small problem step by step, in the book's order and words: inputs, "
      "Q/K/V per head, scores, scaling, mask, softmax weights, dropout, context, concatenation, output "
      "projection. Exit 1 when --backend's output FAILs.");
  AddPluginFlags(sub, o.plugins);
  o.grid = ExplainDefaults();
  AddGridFlags(sub, o.grid);
  AddProblemFileFlags(sub, o.files);
  sub->add_option("--example", o.example,
                  "A built-in problem: book (the book's six tokens, simplified attention) or seed (the "
                  "The/cat/sat example of the chapter notes, corrected)");
  sub->add_option("--backend", o.backend, "Also run this backend and show its output beside the reference, row by row");
  sub->add_option("--data-seed", o.data_seed, "Seed of the random inputs and weights")->capture_default_str();
  sub->add_flag("--json", o.json, "Print every step's matrices (all of them) as JSON instead of text");
  sub->add_option("--precision", o.render.precision, "Digits after the point")->capture_default_str();
  sub->add_option("--max-rows", o.render.max_rows, "Rows shown per matrix before eliding the middle")->capture_default_str();
  sub->add_option("--max-cols", o.render.max_cols, "Columns shown per matrix before eliding the middle")->capture_default_str();
  sub->callback([&rc, sub] { rc = RunExplain(o, *sub); });
}

}  // namespace attnbench::cli
