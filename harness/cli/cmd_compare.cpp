// attnbench compare DIR_A DIR_B: per backend x config the change in median time with a
// Mann-Whitney U test (google/benchmark's tools/gbench, via scripts/compare.py), the geometric
// mean per backend, and --fail-above PCT to turn a regression into exit code 1.
#include <filesystem>
#include <stdlib.h>

#include <iostream>
#include <memory>

#include "../bench/python_tool.h"
#include "../history/history.h"
#include "cli_common.h"
#include "commands.h"

namespace attnbench::cli {

namespace {

struct CompareOptions {
  std::string a, b;
  double fail_above = -1;
  double alpha = 0.05;
  bool markdown = false;
  std::string db;
};

namespace fs = std::filesystem;

// A temporary directory removed on scope exit.
struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "attnbench-compare-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("compare: cannot create a temporary directory");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// "db:ID": run ID of the history, exported as a results directory into tmp; anything else is a
// directory, returned as is.
std::string ResolveRun(const std::string& arg, const std::string& db_path, std::vector<std::unique_ptr<TempDir>>& tmp) {
  if (arg.rfind("db:", 0) != 0) return arg;
  const std::string id = arg.substr(3);
  if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos || id.size() > 15)
    throw InputError("compare: '" + arg + "': a history run is db:ID with ID a run number (attnbench history)");
  const std::string path = db_path.empty() ? history::DefaultDbPath() : db_path;
  if (!fs::is_regular_file(path)) throw InputError("compare: no history database at '" + path + "' (--db PATH)");
  history::HistoryDb db(path);
  const history::StoredRun run = db.Load(std::stoll(id));
  tmp.push_back(std::make_unique<TempDir>());
  history::ExportRun(run, tmp.back()->path);
  return tmp.back()->path;
}

int RunCompare(const CompareOptions& given) {
  std::vector<std::unique_ptr<TempDir>> tmp;
  CompareOptions o = given;
  o.a = ResolveRun(given.a, given.db, tmp);
  o.b = ResolveRun(given.b, given.db, tmp);
  for (const auto& d : {o.a, o.b})
    if (!fs::is_regular_file(fs::path(d) / "bench.json") || !fs::is_regular_file(fs::path(d) / "summary.csv"))
      throw InputError("compare: '" + d + "' is not a bench results directory (needs bench.json and summary.csv)");
  if (!(o.alpha > 0 && o.alpha < 1)) throw InputError("--alpha must be in (0, 1)");
  std::vector<std::string> args = {o.a, o.b, "--alpha", std::to_string(o.alpha)};
  if (o.fail_above >= 0) args.insert(args.end(), {"--fail-above", std::to_string(o.fail_above)});
  if (o.markdown) args.push_back("--markdown");
  const int rc = bench::RunPythonScript("compare.py", args);
  if (rc == 127) std::cerr << "attnbench compare: could not start the Python interpreter (set ATTNBENCH_PYTHON)\n";
  return rc == 0 ? kExitOk : rc == 1 ? kExitFailed : kExitBadInput;
}

}  // namespace

void AddCompareCommand(CLI::App& app, int& rc) {
  static CompareOptions o;
  CLI::App* sub = app.add_subcommand(
      "compare",
      "Compare two bench results directories or two runs of the history (db:ID) (A = before, B = after): per backend x config the change in median "
      "time with a Mann-Whitney U test over the repetitions, the geometric mean per backend. Exit 1 with "
      "--fail-above PCT when a significant slowdown exceeds PCT percent.");
  sub->add_option("DIR_A", o.a, "Results directory of the old run, or db:ID (run ID of the history)")->required();
  sub->add_option("DIR_B", o.b, "Results directory of the new run, or db:ID")->required();
  sub->add_option("--db", o.db, "The history database db:ID refers to (default: results/attnbench.db)")
      ->type_name("PATH");
  sub->add_option("--fail-above", o.fail_above,
                  "Exit 1 when a cell is significantly slower (p < alpha) by more than PCT percent");
  sub->add_option("--alpha", o.alpha, "Significance level of the U test")->capture_default_str();
  sub->add_flag("--markdown", o.markdown, "Print the tables as Markdown");
  sub->callback([&rc] { rc = RunCompare(o); });
}

}  // namespace attnbench::cli
