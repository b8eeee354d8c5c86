// attnbench run: one backend on one problem; optional inputs from .npy files; optional dump of
// every input, weight and the output as .npy plus problem.json, for numpy / PyTorch.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "../backend_handle.h"
#include "../diagnose.h"
#include "../npy.h"
#include "../problem_keys.h"
#include "../reference.h"
#include "../sysinfo.h"
#include "../validate.h"
#include "cli_common.h"
#include "problem_files.h"
#include "commands.h"

namespace attnbench::cli {

namespace fs = std::filesystem;

namespace {

struct RunOptions {
  PluginFlags plugins;
  GridSpec grid;
  std::string backend;
  ProblemFiles files;  // --input, --weights
  std::string dump_dir;
  uint64_t data_seed = 0;
  int sample_rows = 32;
};

// Largest attention-weight tensor `--dump` writes (B*H*T*(P+T) elements, 256 MiB of float32).
constexpr double kMaxDumpedWeights = 1 << 26;

// Writes the reference output (ref_out.npy) and, when not too large, its attention weights
// (attn_weights.npy), so expected and actual compare without one's own numpy; returns whether
// the weights were written.
bool DumpReference(const ab_problem& p, const ProblemData& data, const fs::path& dir) {
  const int64_t keys = static_cast<int64_t>(p.past_len) + p.seq_len;  // the cache's rows, then the new ones
  const bool weights = static_cast<double>(p.batch) * p.heads * p.seq_len * keys <= kMaxDumpedWeights;
  const ReferenceResult ref = ComputeReference(data, AllRows(p.seq_len), weights);
  const std::vector<float> out(ref.out.begin(), ref.out.end());
  WriteNpy((dir / "ref_out.npy").string(), out.data(), {p.batch, p.seq_len, p.d_out});
  if (weights) {
    const std::vector<float> w(ref.weights.begin(), ref.weights.end());
    WriteNpy((dir / "attn_weights.npy").string(), w.data(), {p.batch, p.heads, p.seq_len, keys});
  }
  return weights;
}

int RunOne(RunOptions& o, const CLI::App& sub) {
  TakeShapeFromFiles(o.files, o.grid, sub);
  const std::vector<Config> configs = ExpandGrid(o.grid);
  if (configs.size() != 1)
    throw InputError("run takes one problem; the flags describe " + std::to_string(configs.size()) +
                     " (give single values, not lists)");
  const Config& c = configs[0];
  const ab_problem& p = c.problem;
  CheckMemory(c);
  if (!o.dump_dir.empty()) {
    std::error_code ec;
    fs::create_directories(o.dump_dir, ec);
    const fs::path probe = fs::path(o.dump_dir) / ".attnbench-write-test";
    std::ofstream(probe.string()) << "";
    if (ec || !fs::exists(probe)) throw InputError("--dump: cannot write to directory '" + o.dump_dir + "'");
    fs::remove(probe, ec);
  }
  PluginRegistry reg;
  LoadPlugins(o.plugins, reg);
  const LoadedBackend* b = reg.Find(o.backend);
  if (!b) SelectBackends(reg, o.backend);  // throws the "unknown backend" message
  SetThreads(o.grid.threads);

  const uint64_t data_seed = sub.count("--data-seed") ? o.data_seed : std::random_device{}();
  ProblemData data = MakeRandomProblemData(p, data_seed);
  LoadProblemFiles(o.files, data);
  if (const std::string bad = NonFiniteInput(data); !bad.empty())
    throw InputError((bad[0] == 'x' ? "--input " + o.files.input : "--weights " + o.files.weights_dir) + ": " + bad +
                     "; NaN and Inf are not inputs an output can be checked on");

  if (CallResult s = BackendInstance::Supports(*b, p); !s) {
    std::printf("UNSUPPORTED %s: %s\n", b->name.c_str(), s.message.c_str());
    return kExitFailed;
  }
  const ab_weights w = data.Weights();
  Prepared prepared = BackendInstance::Prepare(*b, p, w);
  if (!prepared) {
    std::printf("FAIL %s: prepare failed: %s\n", b->name.c_str(), prepared.error.c_str());
    return kExitFailed;
  }
  AlignedBuffer<float> out(OutputElems(p));
  Poison(out.data(), out.size());
  const auto t0 = std::chrono::steady_clock::now();
  const CallResult run = prepared->Run(data.x.data(), out.data());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const size_t ws = prepared->WorkspaceBytes();
  prepared.instance.reset();
  if (!run) {
    std::printf("FAIL %s: run failed: %s\n", b->name.c_str(), run.message.c_str());
    return kExitFailed;
  }
  const ReferenceResult ref = ComputeReference(data, SampleRows(p.seq_len, o.sample_rows, data_seed));
  const CheckResult r = CompareOutput(p, out.data(), ref);
  std::printf("%s %s on %s\n", StatusName(r.status), b->name.c_str(), c.Describe().c_str());
  std::printf("  vs float64 reference (%zu rows): max_abs %.3g, rel_l2 %.3g, tolerance %.3g%s%s\n",
              ref.rows.size(), r.max_abs_err, r.rel_l2_err, r.tol.rel_l2, r.reason.empty() ? "" : "; ",
              r.reason.c_str());
  std::optional<Diagnosis> diagnosis;
  if (r.status == Status::kFail) {
    diagnosis = Diagnose(data, out.data(), r.tol.rel_l2);
    std::printf("  diagnosis: %s\n", diagnosis->message.c_str());
  }
  std::printf("  one run: %.3f ms (a single cold timing, not a benchmark), workspace %zu bytes\n", secs * 1e3, ws);

  if (!o.dump_dir.empty()) {
    const fs::path dir(o.dump_dir);
    WriteNpy((dir / "x.npy").string(), data.x.data(), {p.batch, p.seq_len, p.d_in});
    for (auto& t : WeightTensors(data)) WriteNpy((dir / (std::string(t.name) + ".npy")).string(), t.buf->data(), t.shape);
    WriteNpy((dir / "out.npy").string(), out.data(), {p.batch, p.seq_len, p.d_out});
    const bool with_weights = DumpReference(p, data, dir);
    nlohmann::json j = ProblemFieldsJson(c);
    j.update({
        {"backend", b->name}, {"score_scale", ScoreScale(p)}, {"data_seed", data_seed},
        {"status", StatusName(r.status)}, {"max_abs_err", r.max_abs_err}, {"rel_l2_err", r.rel_l2_err},
        {"layout", "row-major float32; Q = x @ w_q (+ b_q), K = x @ w_k (+ b_k) with kv_heads * head_dim columns; "
                   "head h = columns [h*head_dim, (h+1)*head_dim) of Q, reading KV head h / (heads / kv_heads); "
                   "keys = k_cache [B, kv_heads, past_len, head_dim] rows, then the T new ones; new token t is at "
                   "position past_len + t; out = ctx @ w_o + b_o when out_proj"},
        {"dropout_mask", "include/attnbench/dropout.h (numpy: scripts/reference.py)"},
        {"ref_out", "ref_out.npy: the float64 reference output, stored as float32"},
        {"attn_weights", with_weights ? "attn_weights.npy [B, H, T, past_len + T]: the reference's attention weights "
                                        "after the softmax and dropout (masked = 0), float32"
                                      : "not dumped: B*H*T*(past_len+T) is above 2^26 elements"}});
    if (diagnosis) j["diagnosis"] = DiagnosisJson(*diagnosis);
    std::ofstream((dir / "problem.json").string()) << j.dump(2) << "\n";
    std::printf("  dumped to %s\n", dir.string().c_str());
  }
  return r.status == Status::kFail ? kExitFailed : kExitOk;
}

}  // namespace

void AddRunCommand(CLI::App& app, int& rc) {
  static RunOptions o;
  CLI::App* sub = app.add_subcommand("run", "Run one backend on one problem, check it, optionally dump every tensor as .npy");
  AddPluginFlags(sub, o.plugins);
  o.grid = RunDefaults();
  AddGridFlags(sub, o.grid);
  sub->add_option("--backend", o.backend, "The backend to run")->required();
  AddProblemFileFlags(sub, o.files);
  sub->add_option("--dump", o.dump_dir,
                  "Write x, weights, k_cache / v_cache (with --past-len), out (.npy) and problem.json into this directory");
  sub->add_option("--data-seed", o.data_seed, "Seed of the random inputs and weights (default: fresh)");
  sub->add_option("--sample-rows", o.sample_rows, "Rows the reference check computes (0 = all)")->capture_default_str();
  sub->callback([&rc, sub] { rc = RunOne(o, *sub); });
}

}  // namespace attnbench::cli
