#include "cell_runner.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <sstream>

#include "../isolate.h"
#include "report.h"
#include "timing.h"

namespace attnbench::bench {

namespace {

bool RunIsolatedCells(const std::vector<PlannedConfig>& plan, const std::vector<CellRef>& cells,
                      const SweepOptions& o, BenchRun& run, const Isolation& iso) {
  std::vector<size_t> indices = iso.worker_indices;
  if (indices.empty())
    for (size_t k = 0; k < cells.size(); ++k) indices.push_back(k);
  const std::string ranges = EncodeRanges(indices);
  if (!run.gbench.contains("benchmarks")) run.gbench["benchmarks"] = nlohmann::json::array();
  const size_t total = o.progress_total ? o.progress_total : cells.size();
  auto stopping = [&] { return o.stop && o.stop(); };
  RunIsolated(
      cells.size(), iso.timeout_s,
      [&](size_t start) {
        std::vector<std::string> argv = iso.worker_argv;
        argv.insert(argv.end(), {"--worker", "--start", std::to_string(start), "--cells", ranges});
        return argv;
      },
      [&](const WorkerEvent& e) {
        Cell c;
        nlohmann::json check, entries = nlohmann::json::array();
        const CellRef& ref = cells[e.cell];
        WorkerResult wr;
        std::string malformed;
        if (e.kind == "result" && !DecodeWorkerResult(e.result, ref.name, &wr, &malformed)) {
          c.status = "CRASHED";
          c.reason = "worker sent a malformed result (" + malformed + "); result discarded";
          check = {{"status", c.status}, {"reason", c.reason}};
        } else if (e.kind == "result") {
          c = std::move(wr.cell);
          check = std::move(wr.check);
          entries = std::move(wr.benchmarks);
          if (wr.context.is_object() && run.gbench.value("context", nlohmann::json()).is_null())
            run.gbench["context"] = wr.context;
          for (const auto& j : entries) run.gbench["benchmarks"].push_back(j);
        } else {
          c.status = e.kind == "timeout" ? "TIMEOUT" : "CRASHED";
          c.reason = e.reason + " (during validation or timing, in an isolated worker)";
          check = {{"status", c.status}, {"reason", e.reason}};
        }
        c.section = plan[ref.config].sections;
        c.backend = ref.backend->name;
        c.name = ref.name;
        c.config = plan[ref.config].config;
        if (o.progress)
          std::fprintf(stderr, "[%zu/%zu] %-12s %s: %s\n", o.progress_offset + e.cell + 1, o.progress_offset + total,
                       c.backend.c_str(), c.config.Describe().c_str(), CellLine(c).c_str());
        run.cells.push_back(c);
        if (o.on_cell) o.on_cell({e.cell, run.cells.back(), entries, check});
      },
      o.stop);
  return !stopping();
}

}  // namespace

bool RunCells(const std::vector<PlannedConfig>& plan, const std::vector<CellRef>& cells, const SweepOptions& o,
              BenchRun& run, const Isolation& isolation) {
  if (isolation.enabled) return RunIsolatedCells(plan, cells, o, run, isolation);
  return RunSweep(plan, cells, o, run);
}

int RunAsWorker(const std::vector<PlannedConfig>& plan, const std::vector<CellRef>& cells, const std::string& ranges,
                size_t start, SweepOptions o, BenchRun& run) {
  // Die with the parent (kill -9 of the parent must not leave a hung plugin running), and leave
  // Ctrl-C to the parent, which kills this process when it stops.
  // The caller has already taken the protocol channel (EnterWorkerMode, before loading plugins).
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return 1;
  signal(SIGINT, SIG_IGN);
  std::vector<CellRef> mine;
  for (size_t k : DecodeRanges(ranges, cells.size())) mine.push_back(cells[k]);
  if (!run.gbench.contains("context")) run.gbench["context"] = nullptr;
  o.progress = false;
  o.rounds = false;  // a crash costs the cell it happens in, and on_begin names it
  o.on_begin = [](size_t pos) { SendToParent({{"begin", pos}}); };
  o.on_cell = [&run](const CellOutcome& c) {
    nlohmann::json j = {{"result", c.pos}, {"cell", CellToJson(c.cell)}, {"check", c.check}, {"benchmarks", c.benchmarks}};
    if (!c.benchmarks.empty()) j["context"] = run.gbench.value("context", nlohmann::json::object());
    SendToParent(std::move(j));
  };
  RunSweep(plan, mine, o, run, start);
  return 0;
}

std::string EncodeRanges(const std::vector<size_t>& v) {
  std::string out;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    out += (out.empty() ? "" : ",") + std::to_string(v[i]) + (j > i ? "-" + std::to_string(v[j]) : "");
    i = j + 1;
  }
  return out;
}

std::vector<size_t> DecodeRanges(const std::string& text, size_t limit) {
  std::vector<size_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t a = 0, b = 0;
    try {
      const auto dash = item.find('-');
      a = std::stoull(item.substr(0, dash));
      b = dash == std::string::npos ? a : std::stoull(item.substr(dash + 1));
    } catch (const std::exception&) {
      throw InputError("--cells: bad range '" + item + "'");
    }
    if (a > b || b >= limit) throw InputError("--cells: range '" + item + "' outside the sweep's cells");
    for (size_t k = a; k <= b; ++k) out.push_back(k);
  }
  return out;
}

std::string CellLine(const Cell& c) {
  char buf[256];
  if (c.timed())
    std::snprintf(buf, sizeof buf, "%s %s (cv %.1f%%, %lld reps)", c.status.c_str(), FormatSeconds(c.median_s).c_str(),
                  100 * c.cv, static_cast<long long>(c.repetitions));
  else
    std::snprintf(buf, sizeof buf, "%s: %.200s", c.status.c_str(), c.reason.c_str());
  return buf;
}

}  // namespace attnbench::bench
