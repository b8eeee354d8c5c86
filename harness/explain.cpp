#include "explain.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace attnbench {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

std::vector<std::string> Numbered(const char* prefix, int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) v.push_back(prefix + std::to_string(i));
  return v;
}

// The columns [c0, c0 + n) of a row-major matrix [rows, cols].
LabeledMatrix Columns(const std::string& name, const LabeledMatrix& m, int c0, int n) {
  LabeledMatrix out{name, m.rows, n, {}, m.row_labels, {}};
  for (int r = 0; r < m.rows; ++r)
    for (int c = 0; c < n; ++c) out.values.push_back(m.At(r, c0 + c));
  for (int c = 0; c < n; ++c) out.col_labels.push_back(m.col_labels.empty() ? "c" + std::to_string(c0 + c) : m.col_labels[c0 + c]);
  return out;
}

LabeledMatrix FromFloats(const std::string& name, const float* v, int rows, int cols, std::vector<std::string> row_labels,
                         std::vector<std::string> col_labels) {
  LabeledMatrix m{name, rows, cols, std::vector<double>(v, v + static_cast<size_t>(rows) * cols), std::move(row_labels),
                  std::move(col_labels)};
  return m;
}

// Y = X . W (+ bias), X [rows, k], W [k, n].
LabeledMatrix Multiply(const std::string& name, const LabeledMatrix& x, const float* w, const float* bias, int n) {
  LabeledMatrix y{name, x.rows, n, std::vector<double>(static_cast<size_t>(x.rows) * n), x.row_labels, Numbered("c", n)};
  for (int r = 0; r < x.rows; ++r)
    for (int c = 0; c < n; ++c) {
      double acc = bias ? bias[c] : 0.0;
      for (int i = 0; i < x.cols; ++i) acc += x.At(r, i) * w[static_cast<size_t>(i) * n + c];
      y.values[static_cast<size_t>(r) * n + c] = acc;
    }
  return y;
}

std::string HeadName(const std::string& what, int h, int H) {
  return H > 1 ? what + " (head " + std::to_string(h) + ")" : what;
}

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

Explanation ExplainProblem(const Config& c, const ProblemData& data, std::vector<std::string> tokens) {
  const ab_problem& p = data.problem;
  const int T = p.seq_len, din = p.d_in, dout = p.d_out, H = p.heads, hd = HeadDim(p);
  if (tokens.size() != static_cast<size_t>(T)) tokens = Numbered("t", T);
  Explanation e{c, "", tokens, {}, {}, {}};
  if (p.batch > 1)
    e.notes.push_back("batch 0 of " + std::to_string(p.batch) + " shown; every batch is computed the same way");

  const LabeledMatrix x = FromFloats("x", data.x.data(), T, din, tokens, Numbered("c", din));
  e.steps.push_back({"Inputs", "Each token is an embedding vector of d_in = " + std::to_string(din) +
                                   " numbers: the input x, one row per token (T = " + std::to_string(T) + ").",
                     {x}});

  // Queries, keys and values: x itself in simplified attention, x times trainable weights otherwise.
  LabeledMatrix q = x, k = x, v = x;
  q.name = "Q", k.name = "K", v.name = "V";
  if (p.qkv_proj) {
    const bool bias = p.qkv_bias != 0;
    ExplainStep s{"Queries, keys and values",
                  std::string("The trainable weight matrices W_q, W_k, W_v (d_in x d_out = ") + std::to_string(din) + " x " +
                      std::to_string(dout) + ") project each input: Q = x W_q, K = x W_k, V = x W_v" +
                      (bias ? " (+ the biases b_q, b_k, b_v)" : "") + ".",
                  {}};
    s.matrices.push_back(FromFloats("W_q", data.w_q.data(), din, dout, Numbered("r", din), Numbered("c", dout)));
    s.matrices.push_back(FromFloats("W_k", data.w_k.data(), din, dout, Numbered("r", din), Numbered("c", dout)));
    s.matrices.push_back(FromFloats("W_v", data.w_v.data(), din, dout, Numbered("r", din), Numbered("c", dout)));
    q = Multiply("Q", x, data.w_q.data(), bias ? data.b_q.data() : nullptr, dout);
    k = Multiply("K", x, data.w_k.data(), bias ? data.b_k.data() : nullptr, dout);
    v = Multiply("V", x, data.w_v.data(), bias ? data.b_v.data() : nullptr, dout);
    s.matrices.insert(s.matrices.end(), {q, k, v});
    e.steps.push_back(std::move(s));
    if (H > 1) {
      ExplainStep split{"Split into heads",
                        "Each of Q, K, V is split into H = " + std::to_string(H) + " heads of head_dim = " +
                            std::to_string(hd) + " columns: head h takes columns h*head_dim ... (h+1)*head_dim - 1.",
                        {}};
      for (int h = 0; h < H; ++h)
        for (const LabeledMatrix* m : {&q, &k, &v}) split.matrices.push_back(Columns(HeadName(m->name, h, H), *m, h * hd, hd));
      e.steps.push_back(std::move(split));
    }
  }

  // Per head: scores, scaling, mask, softmax, dropout, context.
  ExplainStep scores{"Attention scores", "", {}}, scaled{"Scaling", "", {}}, masked{"Causal mask", "", {}},
      weights{"Attention weights (softmax)", "", {}}, dropout{"Dropout", "", {}}, context{"Context vectors", "", {}};
  scores.text = p.qkv_proj ? "omega = Q K^T: the dot product of each query with every key (row = query, column = key)."
                           : "omega = x x^T: the dot product of each token (as a query) with every token (as a key); "
                             "simplified attention has no trainable weights and does not scale.";
  const double scale = ScoreScale(p);
  scaled.text = "The scores are divided by sqrt(d_k), d_k = head_dim = " + std::to_string(hd) + " (x " +
                Fmt("%.6g", scale) + "), so that the softmax does not saturate as the dimension grows.";
  masked.text = "A query may only attend to itself and earlier tokens: scores above the diagonal are set to -inf, "
                "so their softmax weight is 0.";
  weights.text = std::string("alpha = softmax(") + (p.qkv_proj ? "scaled scores" : "omega") +
                 ") along each row: the weights of one query are positive and sum to 1 (last column).";
  const double keep = 1.0 / (1.0 - static_cast<double>(p.dropout_p));
  dropout.text = "During training, dropout with p = " + Fmt("%g", p.dropout_p) +
                 " zeroes attention weights at random (mask: 1 kept, 0 dropped; the same mask as "
                 "include/attnbench/dropout.h, seed " + std::to_string(p.dropout_seed) +
                 ") and multiplies the kept ones by 1/(1-p) = " + Fmt("%.6g", keep) +
                 ", so each row sums to 1 on average.";
  context.text = p.qkv_proj ? "z = alpha V: each row is the weighted sum of the value vectors."
                            : "z = alpha x: each row is the weighted sum of the input vectors.";
  const uint64_t threshold = ab_dropout_threshold(p.dropout_p);
  LabeledMatrix concat{"context (all heads)", T, dout, std::vector<double>(static_cast<size_t>(T) * dout), tokens,
                       Numbered("c", dout)};
  for (int h = 0; h < H; ++h) {
    const LabeledMatrix qh = Columns("", q, h * hd, hd), kh = Columns("", k, h * hd, hd), vh = Columns("", v, h * hd, hd);
    LabeledMatrix s{HeadName("omega", h, H), T, T, std::vector<double>(static_cast<size_t>(T) * T), tokens, tokens};
    for (int i = 0; i < T; ++i)
      for (int j = 0; j < T; ++j) {
        double acc = 0.0;
        for (int d = 0; d < hd; ++d) acc += qh.At(i, d) * kh.At(j, d);
        s.values[static_cast<size_t>(i) * T + j] = acc;
      }
    scores.matrices.push_back(s);
    if (p.qkv_proj) {
      for (double& val : s.values) val *= scale;
      s.name = HeadName("omega / sqrt(d_k)", h, H);
      scaled.matrices.push_back(s);
    }
    if (p.causal) {
      for (int i = 0; i < T; ++i)
        for (int j = i + 1; j < T; ++j) s.values[static_cast<size_t>(i) * T + j] = kNegInf;
      s.name = HeadName("masked scores", h, H);
      masked.matrices.push_back(s);
    }
    LabeledMatrix a = s;
    a.name = HeadName("alpha", h, H);
    a.show_row_sums = true;
    for (int i = 0; i < T; ++i) {
      double m = kNegInf, sum = 0.0;
      for (int j = 0; j < T; ++j) m = std::max(m, s.At(i, j));
      for (int j = 0; j < T; ++j) sum += (a.values[static_cast<size_t>(i) * T + j] = std::exp(s.At(i, j) - m));
      for (int j = 0; j < T; ++j) a.values[static_cast<size_t>(i) * T + j] /= sum;
    }
    weights.matrices.push_back(a);
    if (p.dropout_p > 0.0f) {
      LabeledMatrix mask = a;
      mask.name = HeadName("dropout mask", h, H);
      mask.show_row_sums = false;
      for (int i = 0; i < T; ++i) {
        const uint64_t key = ab_dropout_row_key(p.dropout_seed, 0, h, i);
        for (int j = 0; j < T; ++j) {
          const bool kept = ab_dropout_keep(key, j, threshold);
          mask.values[static_cast<size_t>(i) * T + j] = kept ? 1.0 : 0.0;
          a.values[static_cast<size_t>(i) * T + j] *= kept ? keep : 0.0;
        }
      }
      a.name = HeadName("alpha after dropout", h, H);
      dropout.matrices.insert(dropout.matrices.end(), {mask, a});
    }
    LabeledMatrix z{HeadName("z", h, H), T, hd, std::vector<double>(static_cast<size_t>(T) * hd), tokens, {}};
    for (int i = 0; i < T; ++i)
      for (int d = 0; d < hd; ++d) {
        double acc = 0.0;
        for (int j = 0; j < T; ++j) acc += a.At(i, j) * vh.At(j, d);
        z.values[static_cast<size_t>(i) * hd + d] = acc;
        concat.values[static_cast<size_t>(i) * dout + h * hd + d] = acc;
      }
    for (int d = 0; d < hd; ++d) z.col_labels.push_back("c" + std::to_string(h * hd + d));
    context.matrices.push_back(std::move(z));
  }
  e.steps.push_back(std::move(scores));
  if (p.qkv_proj) e.steps.push_back(std::move(scaled));
  if (p.causal) e.steps.push_back(std::move(masked));
  e.steps.push_back(std::move(weights));
  if (p.dropout_p > 0.0f) e.steps.push_back(std::move(dropout));
  if (H == 1) context.matrices[0].col_labels = Numbered("c", dout);
  e.steps.push_back(std::move(context));
  if (H > 1)
    e.steps.push_back({"Concatenation", "The heads' context vectors side by side: head h fills columns h*head_dim ... "
                                        "(h+1)*head_dim - 1.",
                       {concat}});
  if (p.out_proj) {
    LabeledMatrix out = Multiply("out", concat, data.w_o.data(), data.b_o.data(), dout);
    e.steps.push_back({"Output projection", "out = Z W_o + b_o: a linear layer (d_out x d_out) mixes the heads.",
                       {FromFloats("W_o", data.w_o.data(), dout, dout, Numbered("r", dout), Numbered("c", dout)),
                        FromFloats("b_o", data.b_o.data(), 1, dout, {"b_o"}, Numbered("c", dout)), out}});
  }
  return e;
}

const LabeledMatrix& ExplainedOutput(const Explanation& e) { return e.steps.back().matrices.back(); }

// ---- the built-in examples ----

namespace {

void Fill(AlignedBuffer<float>& b, std::initializer_list<float> v) { std::copy(v.begin(), v.end(), b.data()); }

}  // namespace

Example BookExample() {
  const Variant var = Variant::kSimplified;
  Config c{var, MakeProblem(var, 1, 6, 3, 3, 1)};
  Example ex{c, AllocateProblemData(c.problem), {"Your", "journey", "starts", "with", "one", "step"}, {}};
  Fill(ex.data.x, {0.43f, 0.15f, 0.89f, 0.55f, 0.87f, 0.66f, 0.57f, 0.85f, 0.64f,
                   0.22f, 0.58f, 0.33f, 0.77f, 0.25f, 0.10f, 0.05f, 0.80f, 0.55f});
  ex.notes.push_back("the book's six tokens 'Your journey starts with one step' as 3-d embeddings (section 3.3); "
                     "the book prints the scores, weights and context vectors of each step to 4 decimals, and these "
                     "are the same numbers (e.g. the context of 'journey' is [0.4419, 0.6515, 0.5683])");
  return ex;
}

Example SeedExample() {
  const Variant var = Variant::kSelf;
  Config c{var, MakeProblem(var, 1, 3, 3, 2, 1)};
  Example ex{c, AllocateProblemData(c.problem), {"The", "cat", "sat"}, {}};
  Fill(ex.data.x, {1, 0, 1, 0, 1, 1, 1, 1, 0});
  Fill(ex.data.w_q, {1, 0, 0, 1, 1, 1});
  Fill(ex.data.w_k, {0, 1, 1, 0, 1, 1});
  Fill(ex.data.w_v, {1, 1, 0, 1, 1, 0});
  // The slip, recomputed here from the data rather than typed in: row "The" without the scaling
  // the notes leave out.
  const Explanation e = ExplainProblem(c, ex.data, ex.tokens);
  const LabeledMatrix& omega = e.steps[2].matrices[0];  // Inputs, Q/K/V, scores
  const LabeledMatrix& v = e.steps[1].matrices[5];
  double w[3], sum = 0.0, z[2] = {0, 0};
  for (int j = 0; j < 3; ++j) sum += (w[j] = std::exp(omega.At(0, j)));
  for (int j = 0; j < 3; ++j) {
    w[j] /= sum;
    for (int d = 0; d < 2; ++d) z[d] += w[j] * v.At(j, d);
  }
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "the chapter notes (seeds/004) write K_sat = [0, 1] and Score(The, sat) = 1; but sat = [1, 1, 0], "
                "so K_sat = [0, 1] + [1, 0] = [%g, %g] and Score(The, sat) = %g. Their unscaled weights are then "
                "softmax([%g, %g, %g]) = [%.4f, %.4f, %.4f] (printed: [0.27, 0.72, 0.01]) and the context of 'The' "
                "[%.4f, %.4f] (printed: [1.27, 1.01]). Below, as in the book, the scores are also scaled by "
                "1/sqrt(d_k) = 1/sqrt(2).",
                e.steps[1].matrices[4].At(2, 0), e.steps[1].matrices[4].At(2, 1), omega.At(0, 2), omega.At(0, 0),
                omega.At(0, 1), omega.At(0, 2), w[0], w[1], w[2], z[0], z[1]);
  ex.notes.push_back(buf);
  return ex;
}

Example MakeExample(const std::string& name) {
  if (name == "book") return BookExample();
  if (name == "seed") return SeedExample();
  throw InputError("--example: unknown example '" + name + "' (known: book, seed)");
}

// ---- rendering ----

namespace {

std::string Number(double v, int precision) {
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", precision, v);
  // "-0.0000" reads as a sign error: print 0.
  std::string s = buf;
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

// The indices shown of n with at most limit (>= 4): all, or the first limit-2, "..." (-1) and the
// last 2.
std::vector<int> Shown(int n, int limit) {
  std::vector<int> idx;
  limit = std::max(limit, 4);
  if (n <= limit) {
    for (int i = 0; i < n; ++i) idx.push_back(i);
    return idx;
  }
  for (int i = 0; i < limit - 2; ++i) idx.push_back(i);
  idx.insert(idx.end(), {-1, n - 2, n - 1});
  return idx;
}

}  // namespace

std::string RenderMatrix(const LabeledMatrix& m, const RenderOptions& o) {
  const std::vector<int> rows = Shown(m.rows, o.max_rows), cols = Shown(m.cols, o.max_cols);
  auto row_label = [&](int r) { return r < 0 ? std::string("...") : m.row_labels.empty() ? std::to_string(r) : m.row_labels[r]; };
  auto col_label = [&](int c) { return c < 0 ? std::string("...") : m.col_labels.empty() ? std::to_string(c) : m.col_labels[c]; };
  auto cell = [&](int r, int c) { return r < 0 || c < 0 ? std::string("...") : Number(m.At(r, c), o.precision); };
  auto row_sum = [&](int r) {
    if (r < 0) return std::string("...");
    double s = 0.0;
    for (int c = 0; c < m.cols; ++c) s += m.At(r, c);
    return Number(s, o.precision);
  };
  size_t label_w = 0;
  for (int r : rows) label_w = std::max(label_w, row_label(r).size());
  std::vector<size_t> width;
  for (int c : cols) {
    size_t w = col_label(c).size();
    for (int r : rows) w = std::max(w, cell(r, c).size());
    width.push_back(w);
  }
  size_t sum_w = 3;
  if (m.show_row_sums)
    for (int r : rows) sum_w = std::max(sum_w, row_sum(r).size());
  std::ostringstream os;
  os << "  " << m.name << " (" << m.rows << " x " << m.cols << ")\n";
  auto pad = [](const std::string& s, size_t w) { return std::string(w - std::min(w, s.size()), ' ') + s; };
  os << "    " << std::string(label_w, ' ');
  for (size_t i = 0; i < cols.size(); ++i) os << "  " << pad(col_label(cols[i]), width[i]);
  if (m.show_row_sums) os << "  |" << pad("sum", sum_w);
  os << "\n";
  for (int r : rows) {
    os << "    " << pad(row_label(r), label_w);
    for (size_t i = 0; i < cols.size(); ++i) os << "  " << pad(cell(r, cols[i]), width[i]);
    if (m.show_row_sums) os << "  |" << pad(row_sum(r), sum_w);
    os << "\n";
  }
  const bool rows_cut = std::find(rows.begin(), rows.end(), -1) != rows.end();
  const bool cols_cut = std::find(cols.begin(), cols.end(), -1) != cols.end();
  if (rows_cut || cols_cut)
    os << "    (showing " << (rows.size() - rows_cut) << " of " << m.rows << " rows, " << (cols.size() - cols_cut)
       << " of " << m.cols
       << " columns; --max-rows / --max-cols to see more, --json for every number)\n";
  return os.str();
}

std::string RenderExplanation(const Explanation& e, const RenderOptions& o) {
  std::ostringstream os;
  os << "attnbench explain: " << e.config.Describe();
  if (!e.example.empty()) os << " (example " << e.example << ")";
  os << "\n";
  for (const std::string& n : e.notes) os << "note: " << n << "\n";
  int step = 0;
  for (const ExplainStep& s : e.steps) {
    os << "\n" << ++step << ". " << s.title << "\n   " << s.text << "\n";
    for (const LabeledMatrix& m : s.matrices) os << RenderMatrix(m, o);
  }
  if (e.backend) {
    const BackendComparison& b = *e.backend;
    const LabeledMatrix& ref = ExplainedOutput(e);
    os << "\n" << ++step << ". Backend " << b.backend << " beside the reference (batch 0): " << b.status;
    if (!b.reason.empty()) os << " (" << b.reason << ")";
    os << "\n";
    if (!b.output.values.empty()) {
      // Each reference row above the backend's, so that a pair reads top to bottom.
      LabeledMatrix side{"reference and " + b.backend, 2 * ref.rows, ref.cols, {}, {}, ref.col_labels};
      for (int r = 0; r < ref.rows; ++r)
        for (const LabeledMatrix* src : {&ref, &b.output}) {
          for (int c = 0; c < ref.cols; ++c) side.values.push_back(src->At(r, c));
          side.row_labels.push_back(e.tokens[r] + (src == &ref ? " ref" : " " + b.backend));
        }
      RenderOptions pairs = o;
      pairs.max_rows = 2 * o.max_rows;
      os << RenderMatrix(side, pairs);
      os << "    relative L2 error of each row:";
      for (int r = 0; r < ref.rows; ++r) os << " " << e.tokens[r] << " " << Fmt("%.2g", b.row_error[r]);
      os << "\n";
    }
    if (b.diagnosis) os << "   diagnosis: " << b.diagnosis->message << "\n";
  }
  return os.str();
}

nlohmann::json ExplanationJson(const Explanation& e) {
  auto matrix = [](const LabeledMatrix& m) {
    nlohmann::json rows = nlohmann::json::array();
    for (int r = 0; r < m.rows; ++r) {
      nlohmann::json row = nlohmann::json::array();
      for (int c = 0; c < m.cols; ++c) {
        const double v = m.At(r, c);
        if (std::isinf(v)) row.push_back(v < 0 ? "-inf" : "inf");  // JSON has no infinity
        else row.push_back(v);
      }
      rows.push_back(std::move(row));
    }
    nlohmann::json j = {{"name", m.name}, {"rows", m.rows}, {"cols", m.cols}, {"values", std::move(rows)},
                        {"row_labels", m.row_labels}, {"col_labels", m.col_labels}};
    if (m.show_row_sums) {
      std::vector<double> sums;
      for (int r = 0; r < m.rows; ++r) {
        double s = 0.0;
        for (int c = 0; c < m.cols; ++c) s += m.At(r, c);
        sums.push_back(s);
      }
      j["row_sums"] = sums;
    }
    return j;
  };
  nlohmann::json steps = nlohmann::json::array();
  for (const ExplainStep& s : e.steps) {
    nlohmann::json ms = nlohmann::json::array();
    for (const LabeledMatrix& m : s.matrices) ms.push_back(matrix(m));
    steps.push_back({{"title", s.title}, {"text", s.text}, {"matrices", std::move(ms)}});
  }
  nlohmann::json j = {{"problem", ProblemJson(e.config)}, {"config", e.config.Describe()}, {"example", e.example},
                      {"tokens", e.tokens}, {"notes", e.notes}, {"steps", std::move(steps)}};
  if (e.backend) {
    const BackendComparison& b = *e.backend;
    j["backend"] = {{"name", b.backend}, {"status", b.status}, {"reason", b.reason}, {"row_error", b.row_error}};
    if (!b.output.values.empty()) j["backend"]["output"] = matrix(b.output);
    if (b.diagnosis) j["backend"]["diagnosis"] = DiagnosisJson(*b.diagnosis);
  }
  return j;
}

}  // namespace attnbench
