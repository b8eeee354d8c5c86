// attnbench validate: every backend on every config of a grid, against the float64 reference.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "../reference.h"
#include "../sysinfo.h"
#include "../validate.h"
#include "cli_common.h"
#include "commands.h"

namespace attnbench::cli {

namespace {

struct ValidateOptions {
  PluginFlags plugins;
  GridSpec grid;
  std::string backends;
  int sample_rows = 32;
  uint64_t data_seed = 0;
  bool json = false;
  bool quiet = false;
};

std::string Repro(const ValidateOptions& o, const LoadedBackend& b, const Config& c, uint64_t data_seed) {
  std::string s = "attnbench validate --backends " + b.name + " " + ConfigFlags(c) +
                  " --data-seed " + std::to_string(data_seed) + " --sample-rows " + std::to_string(o.sample_rows);
  for (const auto& p : o.plugins.plugins) s += " --plugin " + p;
  return s;
}

int RunValidate(const ValidateOptions& o, const CLI::App& sub) {
  // Everything the user typed is checked before anything is allocated.
  const std::vector<Config> configs = ExpandGrid(o.grid);
  for (const auto& c : configs) CheckMemory(c);
  if (o.sample_rows < 0) throw InputError("--sample-rows must be >= 0 (0 = every row)");
  PluginRegistry reg;
  LoadPlugins(o.plugins, reg);
  const auto backends = SelectBackends(reg, o.backends);
  const uint64_t data_seed = sub.count("--data-seed") ? o.data_seed : std::random_device{}() * 0x100000001ull + std::random_device{}();
  SetThreads(o.grid.threads);

  const BlasInfo blas = GetBlasInfo();
  if (auto w = BlasKernelWarning(blas); !w.empty() && !o.quiet) std::cerr << w << "\n";
  if (!o.json) {
    std::printf("attnbench validate: %zu configs x %zu backends, data seed %llu, threads %d, BLAS %s (%s)\n",
                configs.size(), backends.size(), static_cast<unsigned long long>(data_seed), o.grid.threads,
                blas.kernel.c_str(), blas.library.c_str());
    std::printf("tolerance: rel_l2 <= 16 u sqrt(L) (1 + S), max_abs <= 8 tol max|ref| "
                "(u = 2^-24, L = sum of reduction lengths, S = max |scaled score|)\n");
    std::printf("%-11s %-12s %-72s %9s %9s %9s\n", "STATUS", "BACKEND", "CONFIG", "MAX_ABS", "REL_L2", "TOL_L2");
  }
  const bool progress = !o.json && !o.quiet && isatty(STDERR_FILENO);
  std::map<Status, int> counts;
  nlohmann::json rows = nlohmann::json::array();
  for (size_t ci = 0; ci < configs.size(); ++ci) {
    const Config& c = configs[ci];
    if (progress) std::fprintf(stderr, "\r[%zu/%zu] %s\033[K", ci + 1, configs.size(), c.Describe().c_str());
    const ValidationCase vc = PrepareCase(c.problem, data_seed, o.sample_rows);
    const ReferenceResult& ref = vc.ref;
    for (const LoadedBackend* b : backends) {
      const CheckResult r = CheckBackend(*b, vc.data, ref);
      ++counts[r.status];
      const std::string repro = r.status == Status::kFail ? Repro(o, *b, c, vc.data_seed) : "";
      if (o.json) {
        rows.push_back({{"backend", b->name}, {"variant", VariantName(c.variant)}, {"config", c.Describe()},
                        {"batch", c.problem.batch}, {"seq_len", c.problem.seq_len}, {"d_in", c.problem.d_in},
                        {"d_out", c.problem.d_out}, {"heads", c.problem.heads}, {"causal", c.problem.causal != 0},
                        {"dropout", c.problem.dropout_p}, {"seed", c.problem.dropout_seed},
                        {"qkv_bias", c.problem.qkv_bias != 0}, {"out_proj", c.problem.out_proj != 0},
                        {"status", StatusName(r.status)}, {"reason", r.reason},
                        {"max_abs_err", r.max_abs_err}, {"rel_l2_err", r.rel_l2_err},
                        {"tol_rel_l2", r.tol.rel_l2}, {"tol_max_abs", r.tol.max_abs},
                        {"rows_checked", ref.rows.size()}, {"workspace_bytes", r.workspace_bytes},
                        {"repro", repro}});
        continue;
      }
      if (progress) std::fprintf(stderr, "\r\033[K");
      if (r.status == Status::kPass || r.status == Status::kMistrusted || r.status == Status::kFail) {
        if (o.quiet && r.status == Status::kPass) continue;
        std::printf("%-11s %-12s %-72s %9.2e %9.2e %9.2e\n", StatusName(r.status), b->name.c_str(),
                    c.Describe().c_str(), r.max_abs_err, r.rel_l2_err, r.tol.rel_l2);
      } else {
        std::printf("%-11s %-12s %-72s\n", StatusName(r.status), b->name.c_str(), c.Describe().c_str());
      }
      if (!r.reason.empty()) std::printf("            %s\n", r.reason.c_str());
      if (!repro.empty()) std::printf("            repro: %s\n", repro.c_str());
      std::fflush(stdout);
    }
  }
  if (progress) std::fprintf(stderr, "\r\033[K");
  const bool failed = counts[Status::kFail] > 0;
  if (o.json) {
    nlohmann::json doc = {{"data_seed", data_seed},
                          {"threads", o.grid.threads},
                          {"blas", {{"library", blas.library}, {"version", blas.version}, {"kernel", blas.kernel}}},
                          {"summary", {{"pass", counts[Status::kPass]}, {"fail", counts[Status::kFail]},
                                       {"mistrusted", counts[Status::kMistrusted]},
                                       {"unsupported", counts[Status::kUnsupported]}}},
                          {"results", rows}};
    std::cout << doc.dump(2) << "\n";
  } else {
    std::printf("%s: %d PASS, %d FAIL, %d MISTRUSTED, %d UNSUPPORTED\n", failed ? "FAIL" : "PASS",
                counts[Status::kPass], counts[Status::kFail], counts[Status::kMistrusted],
                counts[Status::kUnsupported]);
  }
  return failed ? kExitFailed : kExitOk;
}

}  // namespace

void AddValidateCommand(CLI::App& app, int& rc) {
  static ValidateOptions o;
  CLI::App* sub = app.add_subcommand(
      "validate",
      "Run backends on a grid of problems and compare each output with the float64 reference "
      "on fresh random inputs. Exit 1 if anything FAILs.");
  AddPluginFlags(sub, o.plugins);
  AddGridFlags(sub, o.grid);
  sub->add_option("--backends", o.backends, "Comma list of backends (default: every loaded one)");
  sub->add_option("--sample-rows", o.sample_rows,
                  "Query rows the reference computes per config when T is large (first and last always "
                  "included); 0 = every row")
      ->capture_default_str();
  sub->add_option("--data-seed", o.data_seed, "Seed of the random inputs and weights (default: fresh each run)");
  sub->add_flag("--json", o.json, "Print the results as JSON on stdout instead of the table");
  sub->add_flag("--quiet,-q", o.quiet, "Print only rows that are not PASS, and the summary");
  sub->callback([&rc, sub] { rc = RunValidate(o, *sub); });
}

}  // namespace attnbench::cli
