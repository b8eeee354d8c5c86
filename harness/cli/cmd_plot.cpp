// attnbench plot DIR: PNG + SVG plots of any bench results directory into DIR/plots/, drawn by
// scripts/plot.py (matplotlib) from DIR/summary.csv and DIR/env.json.
#include <filesystem>
#include <iostream>

#include "../bench/python_tool.h"
#include "../bench/report_html.h"
#include "../problem_keys.h"
#include "cli_common.h"
#include "commands.h"

namespace attnbench::cli {

namespace {

struct PlotOptions {
  PluginFlags plugins;  // the backends whose failures report.html diagnoses
  std::string dir;
  bool report = true;
  std::string formats = "png,svg";
  bool history = false;  // --history: scripts/plot_history.py on the SQLite history
  std::string db, backend, config, host, out;
};

int RunHistoryPlot(const PlotOptions& o) {
  namespace fs = std::filesystem;
  const std::string db = o.db.empty() ? "results/attnbench.db" : o.db;
  if (!fs::is_regular_file(db)) throw InputError("plot --history: no history database at '" + db + "' (--db PATH)");
  if (o.backend.empty() || o.config.empty() || o.out.empty())
    throw InputError("plot --history needs --backend, --config and --out");
  std::vector<std::string> args = {db, "--backend", o.backend, "--config", o.config, "--out", o.out};
  if (!o.host.empty()) args.insert(args.end(), {"--host", o.host});
  const int rc = bench::RunPythonScript("plot_history.py", args);
  if (rc == 127) std::cerr << "attnbench plot: could not start the Python interpreter (set ATTNBENCH_PYTHON)\n";
  return rc == 0 ? kExitOk : rc == 2 ? kExitBadInput : kExitFailed;
}

int RunPlot(const PlotOptions& o) {
  namespace fs = std::filesystem;
  if (o.history) return RunHistoryPlot(o);
  if (o.dir.empty()) throw InputError("plot: give a results DIR (or --history)");
  if (!fs::is_regular_file(fs::path(o.dir) / "summary.csv"))
    throw InputError("plot: '" + o.dir + "' is not a bench results directory (no summary.csv)");
  if (o.formats.empty()) throw InputError("--formats: empty");
  // The axes a run can vary: the summary.csv columns of the problem keys (problem_keys.h).
  std::string axes;
  for (const ProblemKey& k : ProblemKeys())
    if (k.name && k.column && k.form != KeyForm::kDerived) axes += (axes.empty() ? "" : ",") + std::string(k.column);
  const int rc = bench::RunPythonScript("plot.py", {o.dir, "--formats", o.formats, "--axes", axes});
  if (rc == 127) std::cerr << "attnbench plot: could not start the Python interpreter (set ATTNBENCH_PYTHON)\n";
  // report.html also for a run with no timed cell: its failures are what there is to read.
  if (o.report && rc != 127 && rc != 2) {
    PluginRegistry reg;
    LoadPlugins(o.plugins, reg);
    const int html = bench::WriteReportHtml(o.dir, reg);
    if (html != 0) std::cerr << "attnbench plot: report.html was not written (exit " << html << ")\n";
    if (rc == 0 && html != 0) return kExitFailed;
  }
  return rc == 0 ? kExitOk : rc == 2 ? kExitBadInput : kExitFailed;
}

}  // namespace

void AddPlotCommand(CLI::App& app, int& rc) {
  static PlotOptions o;
  CLI::App* sub = app.add_subcommand(
      "plot",
      "Draw the plots of any bench results directory into DIR/plots/ (PNG and SVG): for each problem axis that "
      "varies (seq-len, heads, batch, threads, variant, ...), latency, GFLOP/s under the measured peak, speedup and "
      "workspace against it, and the roofline, one figure per combination of the other axes. Exit 1 when no cell was timed. Needs "
      "/usr/bin/python3 with matplotlib. Then DIR/report.html: one self-contained page (plots inlined, tables, "
      "machine, peaks, peers, failures with reproducer lines and diagnoses).");
  sub->add_option("DIR", o.dir, "A results directory written by `attnbench bench`");
  sub->add_option("--formats", o.formats, "Comma list of image formats (report.html inlines the svg ones)")
      ->capture_default_str();
  sub->add_flag("!--no-report", o.report, "Do not write DIR/report.html");
  AddPluginFlags(sub, o.plugins);
  const char* h = "History (scripts/plot_history.py)";
  sub->add_flag("--history", o.history,
                "Instead of DIR: one backend's median on one config across the runs of the SQLite history, in date "
                "order, labelled by commit")
      ->group(h);
  sub->add_option("--db", o.db, "The history (default: results/attnbench.db)")->type_name("PATH")->group(h);
  sub->add_option("--backend", o.backend, "The backend drawn")->group(h);
  sub->add_option("--config", o.config, "Text in the config's name (exactly one config must match)")->group(h);
  sub->add_option("--host", o.host, "Only runs of this host (default: every host, one line each)")->group(h);
  sub->add_option("--out", o.out, "The image file (.png or .svg)")->group(h);
  sub->callback([&rc] { rc = RunPlot(o); });
}

}  // namespace attnbench::cli
