// sweep.json: what defines a bench run, recorded as data when the run starts and read back as
// data by `bench --resume` and by the isolated workers (no command line is parsed again).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "preset.h"

namespace attnbench::bench {

// Everything that decides which cells run and what they measure.
struct SweepSpec {
  std::vector<std::string> plugins;  // --plugin files, absolute (a resume from elsewhere loads the same)
  bool no_default_plugins = false;
  std::string backends;              // --backends ("" = every loaded one)
  nlohmann::json preset;             // {"name", "file", "text"}, or null: grid flags only
  std::vector<Section> sections;     // the preset's sections, the grid flags applied
  double budget_s = 30;
  std::string baseline;              // as given: "" = blas when loaded, "none" = no speedups
  int sample_rows = 32;
  uint64_t data_seed = 1;
  std::string cache = "cold";
  int sgemm_size = 2048;
  std::string peers = "none";
  std::vector<std::string> benchmark_args;  // the --benchmark_* flags, as given
  int shard_index = 0, shard_count = 1;     // --shard i/N (shard.h); count 1 = the whole sweep
  std::string PresetName() const;           // "default", or "(command line)"
};

struct SweepRecord {
  std::string started;             // UTC timestamp
  int cores = 0;                   // "all" threads meant this many
  SweepSpec spec;
  std::vector<std::string> cells;  // every cell's name, in sweep order (a shard: its own cells)
  std::vector<std::string> sweep_cells;  // a shard: every cell of the whole sweep, in order (merge
                                         // orders the shards' rows by it); empty otherwise
};

nlohmann::json SweepSpecJson(const SweepSpec& s);
SweepSpec SweepSpecFromJson(const nlohmann::json& j);  // throws InputError on a missing / mistyped key

nlohmann::json SweepRecordJson(const SweepRecord& r);
// DIR/sweep.json; InputError when it is absent, not JSON or not a sweep record.
SweepRecord ReadSweepRecord(const std::string& dir);

// Where two specs differ, one line each: "budget_s: 30 recorded, 10 now",
// "sections[0].grid.seq_len: \"8,12\" recorded, \"8\" now". Empty when equal.
std::vector<std::string> SpecDifferences(const SweepSpec& recorded, const SweepSpec& now);

// The spec of the whole sweep a shard belongs to (shard fields reset): what shards of one run share.
SweepSpec UnshardedSpec(SweepSpec s);

}  // namespace attnbench::bench
