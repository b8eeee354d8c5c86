// attnbench merge DIR... --out DIR: the shards of one sweep into one run directory, or whole
// runs of several hosts into one side-by-side comparison (harness/bench/merge.h).
#include <cstdio>
#include <filesystem>

#include "../bench/merge.h"
#include "../history/history.h"
#include "cli_common.h"
#include "commands.h"

namespace attnbench::cli {

namespace {

struct MergeCliOptions {
  std::vector<std::string> dirs;
  std::string out;
  bool allow_mixed = false;
  bool quiet = false;
  std::string db;
  bool no_db = false;
};

// The shards' own histories (DIR/attnbench.db) and the merged run into one database: the shards'
// runs first (each file in one transaction), then the merged run (one transaction).
void RecordMerge(const MergeCliOptions& o, const bench::MergedRun& m) {
  namespace fs = std::filesystem;
  history::HistoryDb db(o.db.empty() ? history::DefaultDbPath() : o.db);
  int imported = 0;
  for (const auto& d : o.dirs) {
    const fs::path shard_db = fs::path(d) / "attnbench.db";
    if (m.kind == "shards" && fs::is_regular_file(shard_db) && !fs::equivalent(shard_db, db.path()))
      imported += db.Import(shard_db.string());
  }
  const int64_t id = db.Record({"merge", o.out, m.record, &m.run});
  if (!o.quiet)
    std::printf("history: run %lld in %s (%d shard runs imported)\n", static_cast<long long>(id), db.path().c_str(),
                imported);
}

int RunMerge(const MergeCliOptions& o) {
  std::vector<bench::RunDir> runs;
  for (const auto& d : o.dirs) runs.push_back(bench::ReadRunDir(d));
  bench::MergedRun m = bench::MergeRuns(runs, {o.allow_mixed});
  std::unique_ptr<history::HistoryDb> check;  // a bad --db is refused before anything is written
  if (!o.no_db) check = std::make_unique<history::HistoryDb>(o.db.empty() ? history::DefaultDbPath() : o.db);
  check.reset();
  bench::WriteMergedRun(m, o.out);
  if (!o.quiet) {
    std::map<std::string, int> counts;
    for (const auto& c : m.run.cells) ++counts[c.status];
    std::printf("attnbench merge: %zu %s into %s:", runs.size(), m.kind == "shards" ? "shards" : "hosts", o.out.c_str());
    for (const auto& [st, n] : counts) std::printf(" %d %s", n, st.c_str());
    std::printf("\n");
  }
  if (!o.no_db) RecordMerge(o, m);
  return kExitOk;
}

}  // namespace

void AddMergeCommand(CLI::App& app, int& rc) {
  static MergeCliOptions o;
  CLI::App* sub = app.add_subcommand(
      "merge",
      "Merge bench output directories into one (--out): the shards of one sweep (`bench --shard i/N`, every i "
      "once) into the run directory the sweep would have written in one process; or whole runs of different hosts "
      "into one comparison where each host is a series (rows backend@host, a host column in summary.csv, every "
      "host's machine side by side in report.md). Refuses shards of different sweeps, a shard given twice or "
      "missing, an unfinished shard, and inputs at different commits unless --allow-mixed.");
  sub->add_option("DIR", o.dirs, "Bench output directories (shards of one run, or runs of different hosts)")
      ->required()
      ->check(CLI::ExistingDirectory);
  sub->add_option("--out", o.out, "The merged run directory (created)")->required();
  sub->add_flag("--allow-mixed", o.allow_mixed, "Merge inputs measured at different commits (recorded in env.json)");
  sub->add_flag("--quiet,-q", o.quiet, "No summary line");
  auto* db = sub->add_option("--db", o.db,
                             "Record the merged run (and import the shards' DIR/attnbench.db) into this SQLite history "
                             "(default: results/attnbench.db)")
                 ->type_name("PATH");
  sub->add_flag("--no-db", o.no_db, "Do not record the merged run in the history")->excludes(db);
  sub->footer("Then: `attnbench plot OUT`, `attnbench compare OLD OUT`. See docs/scale-out.md.");
  sub->callback([&rc] { rc = RunMerge(o); });
}

}  // namespace attnbench::cli
