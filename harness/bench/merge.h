// `attnbench merge`: run directories into one. Two cases, told apart by sweep.json:
// - shards of one sweep (`bench --shard i/N`, every i once): one run directory as if the sweep had
//   run in one process (the cells in sweep order, the first shard's environment and SGEMM
//   ceiling, every shard's machine listed in env.json "shards");
// - whole runs from different hosts: one comparison where a host is a series like a backend
//   (cells renamed backend@host, a host column in summary.csv, each host's environment kept in
//   env.json "hosts" and side by side in report.md).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "result.h"
#include "run_record.h"

namespace attnbench::bench {

// One bench output directory as written: sweep.json, env.json, bench.json, summary.csv.
struct RunDir {
  std::string dir;
  SweepRecord record;
  nlohmann::json env;
  nlohmann::json gbench;
  std::vector<Cell> cells;
  std::string Host() const;    // env.json "host"
  std::string Commit() const;  // env.json "git" "commit" (+ "-dirty")
};
// InputError (naming the directory and the file) when it is not a complete bench output.
RunDir ReadRunDir(const std::string& dir);

struct MergeOptions {
  bool allow_mixed = false;  // shards / hosts at different commits
};

struct MergedRun {
  std::string kind;  // "shards" or "hosts"
  BenchRun run;
  SweepRecord record;                        // sweep.json of the merged directory
  std::string baseline;                      // resolved baseline ("" = none): speedups
  std::map<std::string, size_t> position;    // cell name -> order in the report
  std::vector<std::string> hosts;            // "hosts": in the order given
};

// Refuses (InputError, one line) shards of different sweeps, of different commits (unless
// allow_mixed), a shard given twice, a shard missing, an unfinished shard, a cell in two shards.
MergedRun MergeShards(const std::vector<RunDir>& shards, const MergeOptions& o);
// Refuses a shard (merge those first), two runs of one host, different commits (unless allow_mixed).
MergedRun MergeHosts(const std::vector<RunDir>& runs, const MergeOptions& o);
// Shards when every input is a shard, hosts when none is; InputError when mixed.
MergedRun MergeRuns(const std::vector<RunDir>& runs, const MergeOptions& o);

// Writes the merged run into out (created): env.json, bench.json, summary.csv (a host column
// first for hosts), report.md (a hosts table for hosts), sweep.json.
void WriteMergedRun(MergedRun& m, const std::string& out);

// report.md of a hosts merge: the hosts side by side (machine, ISA, BLAS kernel, SGEMM ceiling,
// commit, date), then the per-config tables of the ordinary report with one row per backend@host.
std::string RenderHostsReport(const MergedRun& m);
// summary.csv of a hosts merge: the ordinary columns with "host" first.
std::string RenderHostsCsv(const MergedRun& m);

}  // namespace attnbench::bench
