#include "report_html.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../diagnose.h"
#include "../validate.h"
#include "atomic_file.h"
#include "python_tool.h"
#include "report.h"

namespace attnbench::bench {

namespace fs = std::filesystem;

nlohmann::json FailureDetails(const std::string& dir, const PluginRegistry& reg) {
  const std::vector<Cell> cells = ParseSummaryCsv(ReadWholeFile((fs::path(dir) / "summary.csv").string()));
  nlohmann::json env = nlohmann::json::object();
  if (std::ifstream f((fs::path(dir) / "env.json").string()); f) env = nlohmann::json::parse(f, nullptr, false);
  const nlohmann::json timing = env.is_object() ? env.value("timing", nlohmann::json::object()) : nlohmann::json::object();
  const uint64_t data_seed = timing.value("data_seed", uint64_t{1});
  const int sample_rows = timing.value("sample_rows", 32);
  nlohmann::json out = nlohmann::json::array();
  for (const Cell& c : cells) {
    if (c.status != "FAIL" && c.status != "CRASHED" && c.status != "TIMEOUT") continue;
    // validate draws the data of one config as the sweep does (PrepareCase from the run's seed).
    const std::string repro = "attnbench validate --backends " + c.backend + " " + ConfigFlags(c.config) +
                              " --data-seed " + std::to_string(data_seed) + " --sample-rows " +
                              std::to_string(sample_rows) + (c.status == "FAIL" ? "" : " --isolate");
    Diagnosis d;
    const LoadedBackend* b = reg.Find(c.backend);
    if (c.status != "FAIL") {
      d.message = "not diagnosed: the backend " + std::string(c.status == "CRASHED" ? "crashed" : "timed out");
    } else if (c.backend.rfind("peer-", 0) == 0) {
      d.message = "not diagnosed: a peer runs in its own process";
    } else if (!b) {
      d.message = "not diagnosed: plugin '" + c.backend + "' not loaded (attnbench plot --plugin PATH)";
    } else {
      const ValidationCase vc = PrepareCase(c.config.problem, data_seed, sample_rows);
      d = DiagnoseBackend(*b, vc.data, c.tol_rel_l2 > 0 ? c.tol_rel_l2 : ComputeTolerance(vc.data.problem, vc.ref).rel_l2);
    }
    out.push_back({{"name", c.name}, {"backend", c.backend}, {"config", c.config.Describe()}, {"status", c.status},
                   {"reason", c.reason}, {"repro", repro}, {"diagnosis", DiagnosisJson(d)}});
  }
  return out;
}

int WriteReportHtml(const std::string& dir, const PluginRegistry& reg) {
  const fs::path failures = fs::temp_directory_path() / ("attnbench-failures-" + std::to_string(getpid()) + ".json");
  std::ofstream(failures.string()) << FailureDetails(dir, reg).dump(1) << "\n";
  const int rc = RunPythonScript("report_html.py", {dir, "--failures", failures.string()});
  std::error_code ec;
  fs::remove(failures, ec);
  return rc;
}

}  // namespace attnbench::bench
