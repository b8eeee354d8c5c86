// The problem keys (variant, batch, seq-len, heads, kv-heads, window, past-len, d-in, d-out,
// causal, dropout, seed, qkv-bias, threads) as one table. Every place that lists them -- the CLI flags of validate / run and of
// bench, preset keys and defaults, benchmark names, reproducer lines, summary.csv's problem
// columns, validate --json, the peers' manifest -- walks ProblemKeys() instead of naming them.
//
// How to add a key (e.g. "kv-heads"):
//   1. its meaning: the ab_problem field (include/attnbench/backend_abi.h), CheckProblem and the
//      references (harness/reference.cpp, scripts/reference.py), and where ExpandGrid
//      (harness/grid.cpp) sets the field from the parsed list;
//   2. a GridSpec member (grid.h) holding what the user wrote, with validate's default;
//   3. one entry in ProblemKeys() (problem_keys.cpp). The flags, presets, names, reproducer
//      lines, CSV column, JSON and manifest follow from it. Append its name / CSV ranks after
//      the existing ones, so the names and columns of earlier runs stay as they are.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "grid.h"

namespace attnbench {

// How a key is written on the command line and in a preset.
enum class KeyForm {
  kList,     // --name LIST: a comma list, one grid axis (GridSpec::*text)
  kSwitch,   // --name / --no-name; preset "default", "on" or "off" (GridSpec::*text)
  kNumber,   // --name N: one unsigned number (GridSpec::*number)
  kThreads,  // run / explain: --threads N (GridSpec::threads); validate, bench and presets: a list "1,all"
  kDerived,  // not a key: a column derived from the problem (head_dim, qkv_proj, out_proj)
};

struct ProblemKey {
  const char* name;  // the flag without "--" and the preset key: "seq-len" (nullptr for kDerived)
  KeyForm form;
  const char* help = nullptr;        // validate / run --help (kSwitch: of --name)
  const char* bench_help = nullptr;  // bench --help; nullptr = help
  const char* off_help = nullptr;    // kSwitch: of --no-name
  std::string GridSpec::*text = nullptr;  // kList, kSwitch
  uint64_t GridSpec::*number = nullptr;   // kNumber
  const char* bench_default = nullptr;    // its value in every bench / preset section
  const char* preset_alias = nullptr;     // also accepted in presets ("variants")
  // Where the key shows in the records of one config.
  const char* column = nullptr;  // summary.csv column (nullptr: none)
  const char* json = nullptr;    // validate --json / ProblemJson name (nullptr: none)
  const char* field = nullptr;   // the ab_problem field in the peers' manifest (nullptr: none)
  std::string (*csv_get)(const Config&) = nullptr;
  void (*csv_set)(Config&, const std::string&) = nullptr;  // throws std::runtime_error
  nlohmann::json (*json_value)(const Config&) = nullptr;    // for json and field
  std::string (*name_part)(const Config&) = nullptr;    // benchmark name fragment, "" = none
  std::string (*repro_part)(const Config&) = nullptr;   // ConfigFlags fragment, "" = none
  // Orders that predate the table (kept so names, columns and messages stay as they were).
  int name_rank = -1;    // place of name_part in BenchmarkName
  int column_rank = -1;  // place of column in summary.csv
  int preset_rank = -1;  // place in the preset's "known:" list
  // Keys added after grids were first recorded (kv-heads, window, past-len): the text that means
  // "as before". GridSpecArgs leaves such a key out at this value (so older command lines stay
  // as they were) and GridSpecFromJson reads a record without it as this value.
  const char* record_default = nullptr;
};

// Every key in flag order (the order of --help, GridSpecArgs and ConfigFlags), then the derived
// columns.
const std::vector<ProblemKey>& ProblemKeys();

// The keys sorted by one of the ranks above (entries without that rank left out).
std::vector<const ProblemKey*> KeysByRank(int ProblemKey::*rank);

// The key a preset line names ("variants" too); nullptr when unknown.
const ProblemKey* FindPresetKey(const std::string& key);

// Every command-line flag of the keys, in flag order: "--variant", ..., "--causal",
// "--no-causal", ..., "--threads".
std::vector<std::string> GridFlagNames();
// The flags of one key: {"--causal", "--no-causal"} for a switch, else {"--name"}.
std::vector<std::string> FlagsOf(const ProblemKey& k);

// A key's value in spec as its preset / command-line text ("1,2", "on", "7").
std::string KeyText(const ProblemKey& k, const GridSpec& spec);
// Sets a key from that text (threads: one integer); throws std::exception on a malformed number.
void SetKeyText(const ProblemKey& k, GridSpec& spec, const std::string& text);

// The problem by its ab_problem field names, as the references read it (scripts/reference.py;
// `run --dump`'s problem.json, the peers' manifest): {"variant", "batch", "seq_len", "d_in",
// "d_out", "heads", "kv_heads", "window", "past_len", "head_dim", "qkv_proj", "qkv_bias",
// "out_proj", "causal", "dropout_p", "dropout_seed"}.
nlohmann::json ProblemFieldsJson(const Config& c);

// Numbers as summary.csv writes and reads them: shortest round-trip text; "" reads as 0; a
// malformed field throws std::runtime_error.
std::string CsvNumber(double v);
double CsvDouble(const std::string& s);
int64_t CsvInt(const std::string& s);

}  // namespace attnbench
