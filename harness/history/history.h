// The results history: every bench, shard and merge recorded into one SQLite file
// (results/attnbench.db unless --db), read by `attnbench history`, `compare db:ID` and
// `plot --history`. docs/scale-out.md, "History".
//
// Transactions: a run is written in one transaction when it has finished (every cell of its
// sweep has a row), in SQLite's default rollback-journal mode. A bench killed at any moment --
// before or during that write -- leaves the database as it was before the run: the journal rolls
// a half-written transaction back at the next open. A run interrupted by SIGINT / SIGTERM is not
// recorded either; `bench --resume` records it when it finishes. The same run recorded again (a
// resume of a finished run, a merge redone) replaces its earlier rows (same uid).
//
// Shards on a shared filesystem: SQLite's file locks are unreliable over NFS / Lustre and WAL
// mode needs shared memory on one host, so shards never write one database: each shard records
// into its own run directory (DIR/attnbench.db), and `merge` imports those files into its --db
// together with the merged run, in one transaction.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../bench/result.h"
#include "../bench/run_record.h"

struct sqlite3;

namespace attnbench::history {

// The run to record: what a bench output directory holds.
struct RunToRecord {
  std::string kind;  // "bench", "shard" or "merge"
  std::string dir;   // the output directory (made absolute)
  bench::SweepRecord record;
  const bench::BenchRun* run = nullptr;
};

struct RunSummary {
  int64_t id = 0;
  std::string kind, dir, host, commit, date, preset, shard;
  bool dirty = false;
  int cells = 0;
  std::map<std::string, int> statuses;
  nlohmann::json ToJson() const;
};

struct CellRow {
  int64_t run_id = 0;
  std::string date, host, commit;
  bench::Cell cell;
  std::string config;  // the cell name without its backend: "mha/B:1/T:64/..."
};

// Filters of `history`; empty = any. commit is a prefix, config a substring, dates compare as
// ISO text ("2026-11-30" matches that day and after for since).
struct Filter {
  std::string backend, config, host, commit, since, until, kind;
};

// A run as the files of a bench directory (compare exports it to a temporary directory).
struct StoredRun {
  RunSummary summary;
  nlohmann::json env, gbench;
  std::vector<bench::Cell> cells;
};

class HistoryDb {
 public:
  // Opens (creating the file, its directory and the tables when absent). InputError naming the
  // path when it cannot, or when the file is not an attnbench history.
  explicit HistoryDb(const std::string& path);
  ~HistoryDb();
  HistoryDb(const HistoryDb&) = delete;
  HistoryDb& operator=(const HistoryDb&) = delete;
  const std::string& path() const { return path_; }

  // Writes the run (its environment, spec, Google Benchmark JSON and every cell) in one
  // transaction, replacing a run of the same uid; returns its id.
  int64_t Record(const RunToRecord& r);
  // Copies every run of the database at other_path into this one (replacing runs of the same
  // uid), in one transaction; returns how many.
  int Import(const std::string& other_path);

  // Runs matching f (a run matches backend / config when it has such a cell), oldest first.
  std::vector<RunSummary> Runs(const Filter& f) const;
  // Cells matching f, with their run's date, host and commit, oldest run first.
  std::vector<CellRow> Cells(const Filter& f) const;
  // InputError when there is no run id.
  StoredRun Load(int64_t id) const;

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
  void Exec(const std::string& sql) const;
};

// "results/attnbench.db": the default database, relative to the working directory.
std::string DefaultDbPath();

// Writes a stored run as a bench output directory (env.json, bench.json, summary.csv, report.md).
void ExportRun(const StoredRun& r, const std::string& dir);

}  // namespace attnbench::history
