// `attnbench explain`: the computation of one small problem step by step, in the order and the
// words of chapter 3 of "Build a Large Language Model (From Scratch)": inputs, Q/K/V (per head),
// scores, scaling, mask, softmax weights (row sums shown), dropout mask and rescaled weights,
// context per head, concatenation, output projection. Batch 0 is shown. The numbers are float64,
// computed here step by step; the test checks the last step against the reference
// (harness/reference.h) and the book's printed values.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "diagnose.h"
#include "grid.h"
#include "problem_data.h"

namespace attnbench {

struct LabeledMatrix {
  std::string name;  // "Q (head 0)"
  int rows = 0, cols = 0;
  std::vector<double> values;  // row-major; a masked score is -inf
  std::vector<std::string> row_labels, col_labels;  // empty: numbered
  bool show_row_sums = false;  // the attention weights: each row sums to 1
  double At(int r, int c) const { return values[static_cast<size_t>(r) * cols + c]; }
};

struct ExplainStep {
  std::string title;  // "Attention weights"
  std::string text;   // what the step does, in the book's words
  std::vector<LabeledMatrix> matrices;
};

// A backend's output beside the reference (batch 0), row by row.
struct BackendComparison {
  std::string backend;
  std::string status;            // PASS / FAIL / UNSUPPORTED, as validate says it
  std::string reason;            // validate's reason when not PASS
  LabeledMatrix output;          // the backend's output, batch 0
  std::vector<double> row_error; // relative L2 error of each row against the reference
  std::optional<Diagnosis> diagnosis;  // with a FAIL
};

struct Explanation {
  Config config;
  std::string example;  // "book", "seed" or ""
  std::vector<std::string> tokens;
  std::vector<ExplainStep> steps;  // the last one holds the output
  std::vector<std::string> notes;
  std::optional<BackendComparison> backend;
};

// A built-in example: the problem, its data, token names and what to say about it.
struct Example {
  Config config;
  ProblemData data;
  std::vector<std::string> tokens;
  std::vector<std::string> notes;
};
// The book's six tokens "Your journey starts with one step" (3-d embeddings, section 3.3),
// simplified attention, as the book computes it.
Example BookExample();
// The The/cat/sat example of the chapter notes (../shared/seeds/004_*): self-attention with its
// W_Q, W_K, W_V, computed correctly (the notes' K_sat and the numbers after it have a slip; the
// note says which).
Example SeedExample();
// "book" / "seed"; throws InputError for another name.
Example MakeExample(const std::string& name);

// The steps of one problem on its data (batch 0). tokens label the rows ("t0", "t1", ... when
// empty).
Explanation ExplainProblem(const Config& c, const ProblemData& data, std::vector<std::string> tokens = {});

// The final output matrix of an explanation (batch 0, T x d_out).
const LabeledMatrix& ExplainedOutput(const Explanation& e);

struct RenderOptions {
  int precision = 4;  // digits after the point
  int max_rows = 8;   // larger matrices are elided in the middle, with a note
  int max_cols = 8;
};
// One matrix as aligned text, elided beyond the limits with a note.
std::string RenderMatrix(const LabeledMatrix& m, const RenderOptions& o);
std::string RenderExplanation(const Explanation& e, const RenderOptions& o);
nlohmann::json ExplanationJson(const Explanation& e);

}  // namespace attnbench
