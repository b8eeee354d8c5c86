// attnbench plot DIR: PNG + SVG plots of a bench results directory into DIR/plots/, drawn by
// scripts/plot.py (matplotlib) from DIR/summary.csv and DIR/env.json.
#include <filesystem>
#include <iostream>

#include "../bench/python_tool.h"
#include "cli_common.h"
#include "commands.h"

namespace attnbench::cli {

namespace {

struct PlotOptions {
  std::string dir;
  std::string formats = "png,svg";
};

int RunPlot(const PlotOptions& o) {
  namespace fs = std::filesystem;
  if (!fs::is_regular_file(fs::path(o.dir) / "summary.csv"))
    throw InputError("plot: '" + o.dir + "' is not a bench results directory (no summary.csv)");
  if (o.formats.empty()) throw InputError("--formats: empty");
  const int rc = bench::RunPythonScript("plot.py", {o.dir, "--formats", o.formats});
  if (rc == 127) std::cerr << "attnbench plot: could not start the Python interpreter (set ATTNBENCH_PYTHON)\n";
  return rc == 0 ? kExitOk : rc == 2 ? kExitBadInput : kExitFailed;
}

}  // namespace

void AddPlotCommand(CLI::App& app, int& rc) {
  static PlotOptions o;
  CLI::App* sub = app.add_subcommand(
      "plot",
      "Draw the plots of a bench results directory into DIR/plots/ (PNG and SVG): latency, GFLOP/s with the SGEMM "
      "ceiling, speedup, heads sweep, workspace, thread scaling. Needs /usr/bin/python3 with matplotlib.");
  sub->add_option("DIR", o.dir, "A results directory written by `attnbench bench`")->required();
  sub->add_option("--formats", o.formats, "Comma list of image formats")->capture_default_str();
  sub->callback([&rc] { rc = RunPlot(o); });
}

}  // namespace attnbench::cli
