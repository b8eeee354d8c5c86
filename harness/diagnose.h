// Diagnosis of a FAIL: the float64 reference re-run with each mistake of a catalogue that kernel
// writers (and learners writing their first kernel) make, and the one the output matches named,
// with its error. An output that matches none is said to match none: no guess.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "plugin_loader.h"
#include "problem_data.h"

namespace attnbench {

enum class Mistake {
  kNone,                // the correct computation
  kNoScale,             // scores not scaled
  kScaleDOut,           // scaled by 1/sqrt(d_out) instead of 1/sqrt(head_dim)
  kScaleHeadDim,        // scaled by 1/head_dim instead of 1/sqrt(head_dim)
  kMaskInverted,        // query i sees keys j >= i
  kMaskOffByOne,        // query i sees keys j < i (its own key masked; row 0 sees none: 0)
  kMaskLeak,            // query i sees keys j <= i + 1
  kSoftmaxQueries,      // softmax over queries (columns) instead of keys
  kHeadsSwapped,        // heads 0 and 1 write each other's columns
  kHeadsInterleaved,    // head h takes columns h, h+H, h+2H, ... instead of h*hd ... (h+1)*hd-1
  kDropoutUnscaled,     // kept weights not multiplied by 1/(1-p)
  kDropoutOtherSeed,    // the mask of seed+1
  kDropoutBeforeSoftmax,// dropout (zero, rescale) on the scores, before the softmax
  kDropoutMissing,      // no dropout
  kBiasMissing,         // Q/K/V bias not added
  kOutProjMissing,      // no output projection (context returned)
  kQkvTransposed,       // Q = X.W_q^T instead of X.W_q (likewise K, V); needs d_in = d_out
  kOutTransposed,       // out = ctx.W_o^T + b_o
  kKvSwapped,           // K computed with W_k's place taken by W_v and V by W_k
  // The version-2 forms (issue 14); positions i = past_len + t are absolute (backend_abi.h).
  kWindowOffByOne,      // the window one key too wide: query i sees j >= i - W (W + 1 keys)
  kKvMap,               // query head h reads KV head h % kv_heads, not h / (heads / kv_heads)
  kCacheOffset,         // the causal mask (and window) ignores past_len: query t sees j <= t
};

struct MistakeInfo {
  Mistake mistake;
  const char* id;     // "softmax_axis": the name of the mutant plugin that makes it
  const char* words;  // "the softmax taken over queries instead of keys"
};

// Every mistake of the catalogue (kNone left out), in the order they are tried.
const std::vector<MistakeInfo>& MistakeCatalogue();

// Whether the mistake changes anything for this problem (no bias: "bias missing" does not).
bool MistakeApplies(Mistake m, const ab_problem& p);

// The output [B, T, d_out] in float64 with the mistake made.
std::vector<double> ComputeWithMistake(const ProblemData& data, Mistake m);

struct Diagnosis {
  bool tried = false;     // false: not diagnosed (reason in message)
  bool matched = false;
  std::string id;         // the mistake's id when matched
  double rel_err = 0.0;   // of the output against the mistaken reference, when matched
  std::string message;    // one sentence, e.g. "matches the reference with ...: rel. error 3.1e-08"
};
nlohmann::json DiagnosisJson(const Diagnosis& d);

// Problems larger than this (B T (past_len + T) d_out multiply-adds) are not diagnosed: the catalogue costs a
// full float64 forward per mistake.
inline constexpr double kMaxDiagnoseWork = 4e8;

// Names the catalogue's mistake whose output `out` [B, T, d_out] matches within tol_rel_l2 (the
// validation tolerance), the closest of those that match. Not tried for a non-finite output.
Diagnosis Diagnose(const ProblemData& data, const float* out, double tol_rel_l2);

// Runs the backend on data (supports, prepare, run) and diagnoses its output; a failing call
// is said in the message, never thrown.
Diagnosis DiagnoseBackend(const LoadedBackend& backend, const ProblemData& data, double tol_rel_l2);

}  // namespace attnbench
