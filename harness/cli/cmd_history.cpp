// attnbench history: the runs recorded in the SQLite history (harness/history/history.h), filtered
// by backend, config, host, commit, date and kind; --cells lists the matching cells instead.
#include <cstdio>
#include <filesystem>

#include "../bench/report.h"
#include "../history/history.h"
#include "cli_common.h"
#include "commands.h"

namespace attnbench::cli {

namespace {

struct HistoryOptions {
  std::string db;
  history::Filter f;
  bool cells = false;
  bool json = false;
};

std::string Statuses(const std::map<std::string, int>& s) {
  std::string out;
  for (const auto& [st, n] : s) out += (out.empty() ? "" : " ") + std::to_string(n) + " " + st;
  return out;
}

int RunHistory(const HistoryOptions& o) {
  const std::string path = o.db.empty() ? history::DefaultDbPath() : o.db;
  if (!std::filesystem::is_regular_file(path))
    throw InputError("history: no history database at '" + path + "' (bench, merge record into it; --db PATH)");
  history::HistoryDb db(path);
  if (o.cells) {
    const auto rows = db.Cells(o.f);
    if (o.json) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& r : rows) {
        nlohmann::json c = bench::CellToJson(r.cell);
        c["run"] = r.run_id, c["date"] = r.date, c["host"] = r.host, c["commit"] = r.commit;
        j.push_back(c);
      }
      std::printf("%s\n", j.dump(2).c_str());
      return kExitOk;
    }
    std::printf("%-5s %-20s %-12s %-10s %-11s %-12s %s\n", "run", "date", "host", "commit", "status", "median",
                "cell");
    for (const auto& r : rows)
      std::printf("%-5lld %-20s %-12s %-10.10s %-11s %-12s %s\n", static_cast<long long>(r.run_id), r.date.c_str(),
                  r.host.c_str(), r.commit.c_str(), r.cell.status.c_str(),
                  r.cell.timed() ? bench::FormatSeconds(r.cell.median_s).c_str() : "-", r.cell.name.c_str());
    return kExitOk;
  }
  const auto runs = db.Runs(o.f);
  if (o.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : runs) j.push_back(r.ToJson());
    std::printf("%s\n", j.dump(2).c_str());
    return kExitOk;
  }
  std::printf("%-5s %-20s %-6s %-6s %-12s %-10s %-10s %-24s %s\n", "run", "date", "kind", "shard", "host", "commit",
              "preset", "cells", "dir");
  for (const auto& r : runs)
    std::printf("%-5lld %-20s %-6s %-6s %-12s %-10.10s %-10s %-24s %s\n", static_cast<long long>(r.id), r.date.c_str(),
                r.kind.c_str(), r.shard.empty() ? "-" : r.shard.c_str(), r.host.c_str(),
                (r.commit + (r.dirty ? "+" : "")).c_str(), r.preset.c_str(), Statuses(r.statuses).c_str(),
                r.dir.c_str());
  return kExitOk;
}

}  // namespace

void AddHistoryCommand(CLI::App& app, int& rc) {
  static HistoryOptions o;
  CLI::App* sub = app.add_subcommand(
      "history",
      "List the runs recorded in the SQLite history (every finished bench, shard and merge), oldest first, "
      "filtered by backend, config, host, commit, date and kind; --cells lists the matching cells with their "
      "medians. `attnbench compare db:ID db:ID` compares two of them, `attnbench plot --history` draws one "
      "backend's median on one config across commits.");
  sub->add_option("--db", o.db, "The history database (default: results/attnbench.db)")->type_name("PATH");
  sub->add_option("--backend", o.f.backend, "Runs with a cell of this backend");
  sub->add_option("--config", o.f.config,
                  "Runs with a cell whose config contains this text, e.g. 'T:1024' or 'mha/B:1/T:64/din:48'");
  sub->add_option("--host", o.f.host, "Runs of this host");
  sub->add_option("--commit", o.f.commit, "Runs at a commit starting with this");
  sub->add_option("--since", o.f.since, "Runs dated on or after this (UTC, e.g. 2026-11-30)")->type_name("DATE");
  sub->add_option("--until", o.f.until, "Runs dated on or before this (UTC; a day includes all of it)")->type_name("DATE");
  sub->add_option("--kind", o.f.kind, "bench, shard or merge")->check(CLI::IsMember({"bench", "shard", "merge"}));
  sub->add_flag("--cells", o.cells, "List the matching cells (backend and config filter the cells) instead of the runs");
  sub->add_flag("--json", o.json, "JSON instead of a table");
  sub->callback([&rc] { rc = RunHistory(o); });
}

}  // namespace attnbench::cli
