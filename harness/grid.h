// The problem grid: comma lists for every problem flag, expanded as a cartesian product into
// configs. Parsing and checking happen here, before anything is allocated.
#pragma once

#include <attnbench/problem.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace attnbench {

// Bad user input: the CLI prints what() and exits with code 2.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Config {
  Variant variant;
  ab_problem problem;
  std::string Describe() const;  // "mha B=1 T=17 ..."
};

// The grid as the user wrote it (strings), with the defaults of `attnbench validate`.
struct GridSpec {
  std::string variants = "simplified,self,causal,mha";
  std::string batch = "1,2";
  std::string seq_len = "1,3,17,65,256";
  std::string heads = "1,3,4";  // or "auto": kAutoHeadsMha for mha, 1 for the single-head variants
  std::string d_in = "48";
  std::string d_out = "48";
  std::string dropout = "0,0.1";
  std::string qkv_bias = "0,1";
  std::string causal = "default";  // "default" (the variant's), "on", "off"
  std::string kv_heads = "heads";  // or a list: K/V heads, each dividing the config's heads
  std::string window = "0";        // sliding-window widths W (0 = unlimited; needs causal)
  std::string past_len = "0";      // KV-cache lengths P before the T new tokens
  uint64_t seed = 1;               // dropout seed
  int threads = 1;
};

// The head count "auto" means for mha (the one variant the book gives several heads); the others
// get 1, so a width that 4 does not divide (the book's d = 3) needs no --heads.
inline constexpr int32_t kAutoHeadsMha = 4;

// The defaults of `attnbench run` (one problem: mha, B = 1, T = 64, H = auto, d = 48); GridSpec{}
// holds those of `attnbench validate`.
GridSpec RunDefaults();

// Splits "a, b,c" into trimmed items; throws InputError naming flag for an empty list, an empty
// item or a duplicate.
std::vector<std::string> SplitList(const std::string& flag, const std::string& text);

// Parses "1,3,17" (each item an integer in [lo, hi], no duplicates, not empty).
std::vector<int64_t> ParseIntList(const std::string& flag, const std::string& text, int64_t lo, int64_t hi);
std::vector<double> ParseRealList(const std::string& flag, const std::string& text);

inline constexpr int kMaxGridConfigs = 100000;

// A combination of the grid's lists that is not a valid problem, and why.
struct SkippedConfig {
  Config config;
  std::string reason;  // CheckProblem's sentence: "d-out 40 is not divisible by heads 6"
};

// Every config of the grid, in a stable order, duplicates removed (e.g. simplified ignores
// d_out and qkv-bias). Throws InputError naming the flag and value when anything is malformed.
// A combination that is not a valid problem (e.g. d_out not divisible by heads): without
// `skipped` an InputError; with it, appended to *skipped and left out (the caller decides, with
// RequireValidConfig, whether what is left is enough: bench joins several grids first).
std::vector<Config> ExpandGrid(const GridSpec& spec, std::vector<SkippedConfig>* skipped = nullptr);

// Throws InputError (the first reason) when no combination is valid: configs empty, skipped not.
void RequireValidConfig(const std::vector<Config>& configs, const std::vector<SkippedConfig>& skipped);

// The functions below list the problem keys; their bodies walk the table of problem_keys.h.

// The flags that repeat exactly this config (for reproducer lines).
std::string ConfigFlags(const Config& c);

// The problem of one config as validate --json prints it: {"variant", "batch", "seq_len", "d_in",
// "d_out", "heads", "causal", "dropout", "seed", "qkv_bias", "out_proj"}. (A Config, not an
// ab_problem: the variant is not recoverable from the problem.)
nlohmann::json ProblemJson(const Config& c);

// The grid as data, keyed by the flag names ({"variant": "mha", ..., "causal": "default",
// "seed": 1, "threads": 2}), and back; GridSpecFromJson throws InputError on a missing, unknown
// or mistyped key.
nlohmann::json GridSpecJson(const GridSpec& s);
GridSpec GridSpecFromJson(const nlohmann::json& j);

// The grid as command-line arguments of validate / run: {"--variant", "mha", "--batch", "1", ...,
// "--no-causal", ..., "--threads", "2"} (--causal / --no-causal only when not "default").
std::vector<std::string> GridSpecArgs(const GridSpec& s);

// Bytes the host needs for one config (inputs, weights, the KV cache, output, the reference's K
// and V); throws InputError when that exceeds the memory available. Callers run it before
// allocating anything, so a past-len too large for the machine is a clear error, not a crash.
size_t HostBytes(const ab_problem& p);
void CheckMemory(const Config& c);

}  // namespace attnbench
