// explain: each step of the book's example against the numbers the book prints, the seed example
// with its arithmetic corrected, every variant's last step against the float64 reference, the
// readable matrices; and `run --input <book file>` with no other flag.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "explain.h"
#include "npy.h"
#include "reference.h"

using namespace attnbench;

namespace {

// What the book prints (chapter 3, section 3.3) for "Your journey starts with one step": the
// attention scores, the attention weights and the context vectors, to 4 decimals.
constexpr double kBookScores[6][6] = {{0.9995, 0.9544, 0.9422, 0.4753, 0.4576, 0.6310},
                                      {0.9544, 1.4950, 1.4754, 0.8434, 0.7070, 1.0865},
                                      {0.9422, 1.4754, 1.4570, 0.8296, 0.7154, 1.0605},
                                      {0.4753, 0.8434, 0.8296, 0.4937, 0.3474, 0.6565},
                                      {0.4576, 0.7070, 0.7154, 0.3474, 0.6654, 0.2935},
                                      {0.6310, 1.0865, 1.0605, 0.6565, 0.2935, 0.9450}};
constexpr double kBookWeights[6][6] = {{0.2098, 0.2006, 0.1981, 0.1242, 0.1220, 0.1452},
                                       {0.1385, 0.2379, 0.2333, 0.1240, 0.1082, 0.1581},
                                       {0.1390, 0.2369, 0.2326, 0.1242, 0.1108, 0.1565},
                                       {0.1435, 0.2074, 0.2046, 0.1462, 0.1263, 0.1720},
                                       {0.1526, 0.1958, 0.1975, 0.1367, 0.1879, 0.1295},
                                       {0.1385, 0.2184, 0.2128, 0.1420, 0.0988, 0.1896}};
constexpr double kBookContext[6][3] = {{0.4421, 0.5931, 0.5790}, {0.4419, 0.6515, 0.5683}, {0.4431, 0.6496, 0.5671},
                                       {0.4304, 0.6298, 0.5510}, {0.4671, 0.5910, 0.5266}, {0.4177, 0.6503, 0.5645}};
// Printed to 4 decimals: the true value is within half a unit of the last digit (the inputs are
// float32, off by < 1e-8).
constexpr double kPrinted = 0.5e-4 + 1e-7;

template <size_t C>
void CheckPrinted(const LabeledMatrix& m, const double (&want)[6][C]) {
  REQUIRE(m.rows == 6);
  REQUIRE(m.cols == static_cast<int>(C));
  for (int r = 0; r < 6; ++r)
    for (int c = 0; c < static_cast<int>(C); ++c) {
      INFO(m.name << " row " << r << " col " << c);
      CHECK(std::abs(m.At(r, c) - want[r][c]) <= kPrinted);
    }
}

const ExplainStep& StepTitled(const Explanation& e, const std::string& title) {
  for (const ExplainStep& s : e.steps)
    if (s.title == title) return s;
  FAIL("no step '" << title << "'");
  throw;
}

struct Cli {
  int rc;
  std::string out;
};
Cli RunCli(const std::string& args) {
  const std::string cmd = std::string(ATTNBENCH_CLI) + " " + args + " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe.get())) > 0) out.append(buf.data(), n);
  const int status = pclose(pipe.release());
  return {WEXITSTATUS(status), out};
}

std::string TempDir(const std::string& name) {
  const auto d = std::filesystem::temp_directory_path() / ("attnbench-explain-" + name + "-" + std::to_string(getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
}

}  // namespace

TEST_CASE("explain --example book: every step is the book's printed numbers") {
  Example ex = BookExample();
  const Explanation e = ExplainProblem(ex.config, ex.data, ex.tokens);
  std::vector<std::string> titles;
  for (const auto& s : e.steps) titles.push_back(s.title);
  CHECK(titles == std::vector<std::string>{"Inputs", "Attention scores", "Attention weights (softmax)", "Context vectors"});
  CheckPrinted(StepTitled(e, "Attention scores").matrices[0], kBookScores);
  CheckPrinted(StepTitled(e, "Attention weights (softmax)").matrices[0], kBookWeights);
  CheckPrinted(StepTitled(e, "Context vectors").matrices[0], kBookContext);
  CHECK(e.tokens[1] == "journey");
  // The text shows the same 4-decimal numbers, and the rows of the weights sum to 1.
  const std::string text = RenderExplanation(e, {});
  CHECK_THAT(text, Catch::Contains("0.4419  0.6515  0.5683"));
  CHECK_THAT(text, Catch::Contains("0.1981  0.1242  0.1220  0.1452  |1.0000"));
}

TEST_CASE("explain --example seed: the corrected arithmetic, and a note on the slip") {
  Example ex = SeedExample();
  const Explanation e = ExplainProblem(ex.config, ex.data, ex.tokens);
  const LabeledMatrix& k = StepTitled(e, "Queries, keys and values").matrices[4];
  CHECK(k.name == "K");
  CHECK(k.At(2, 0) == 1.0);  // K_sat = [1, 1], not the notes' [0, 1]
  CHECK(k.At(2, 1) == 1.0);
  const LabeledMatrix& omega = StepTitled(e, "Attention scores").matrices[0];
  CHECK(omega.At(0, 0) == 4.0);
  CHECK(omega.At(0, 1) == 5.0);
  CHECK(omega.At(0, 2) == 3.0);  // the notes print 1
  // Scaled by 1/sqrt(2) as in the book: weights [0.2840, 0.5760, 0.1400], context [1.2840, 1.1400].
  const LabeledMatrix& w = StepTitled(e, "Attention weights (softmax)").matrices[0];
  CHECK(std::abs(w.At(0, 0) - 0.2840) < 1e-4);
  CHECK(std::abs(w.At(0, 1) - 0.5760) < 1e-4);
  CHECK(std::abs(w.At(0, 2) - 0.1400) < 1e-4);
  const LabeledMatrix& z = ExplainedOutput(e);
  CHECK(std::abs(z.At(0, 0) - 1.2840) < 1e-4);
  CHECK(std::abs(z.At(0, 1) - 1.1400) < 1e-4);
  REQUIRE(ex.notes.size() == 1);
  CHECK_THAT(ex.notes[0], Catch::Contains("K_sat = [0, 1] + [1, 0] = [1, 1]") &&
                              Catch::Contains("[0.2447, 0.6652, 0.0900] (printed: [0.27, 0.72, 0.01])") &&
                              Catch::Contains("[1.2447, 1.0900] (printed: [1.27, 1.01])"));
}

TEST_CASE("explain: the last step of every variant is the float64 reference, the steps in the book's order") {
  for (Variant v : kAllVariants) {
    DYNAMIC_SECTION(VariantName(v)) {
      Config c{v, MakeProblem(v, 2, 17, 12, 12, v == Variant::kSimplified ? 1 : 3)};
      if (c.problem.qkv_proj) c.problem.qkv_bias = 1;
      c.problem.dropout_p = v == Variant::kSimplified ? 0.0f : 0.2f;
      c.problem.dropout_seed = 5;
      const ProblemData data = MakeRandomProblemData(c.problem, 9);
      const Explanation e = ExplainProblem(c, data);
      const ReferenceResult ref = ComputeReference(data, AllRows(17));
      const LabeledMatrix& out = ExplainedOutput(e);
      REQUIRE(out.rows == 17);
      REQUIRE(out.cols == c.problem.d_out);
      for (int r = 0; r < 17; ++r)
        for (int col = 0; col < out.cols; ++col) CHECK(out.At(r, col) == Approx(ref.out[r * out.cols + col]).margin(1e-12));
      if (v == Variant::kMha) {
        std::vector<std::string> titles;
        for (const auto& s : e.steps) titles.push_back(s.title);
        CHECK(titles == std::vector<std::string>{"Inputs", "Queries, keys and values", "Split into heads",
                                                 "Attention scores", "Scaling", "Causal mask",
                                                 "Attention weights (softmax)", "Dropout", "Context vectors",
                                                 "Concatenation", "Output projection"});
        CHECK(StepTitled(e, "Context vectors").matrices.size() == 3);  // one per head
        CHECK(e.notes.at(0) == "batch 0 of 2 shown; every batch is computed the same way");
      }
    }
  }
}

TEST_CASE("explain: matrices are aligned, limited in precision, elided beyond a size with a note") {
  LabeledMatrix m{"m", 17, 10, {}, {}, {}};
  for (int i = 0; i < 170; ++i) m.values.push_back(i % 3 ? -i / 7.0 : i * 1.25);
  m.values[3] = -INFINITY;
  const std::string t = RenderMatrix(m, {3, 8, 8});
  CHECK_THAT(t, Catch::Contains("(showing 8 of 17 rows, 8 of 10 columns"));
  CHECK_THAT(t, Catch::Contains("-inf"));
  CHECK_THAT(t, Catch::Contains("210.000"));  // row 16, col 8: 3 digits after the point
  CHECK_THAT(t, Catch::Contains("-24.143"));  // row 16, col 9
  // Every printed row of the matrix has the same width (aligned columns).
  std::vector<size_t> widths;
  size_t start = t.find('\n') + 1;
  for (int line = 0; line < 10; ++line) {
    const size_t end = t.find('\n', start);
    widths.push_back(end - start);
    start = end + 1;
  }
  CHECK(std::count(widths.begin(), widths.end(), widths[0]) == 10);
  const std::string small = RenderMatrix(LabeledMatrix{"s", 2, 2, {1, 2, 3, 4}, {}, {}}, {});
  CHECK_THAT(small, !Catch::Contains("showing"));
}

TEST_CASE("run --input <the book's embeddings> with no other flag: out.npy is the book's context matrix") {
  const std::string dir = TempDir("run-book");
  const Cli r = RunCli("run --backend naive --variant simplified --input " ATTNBENCH_TEST_DATA "/book_inputs.npy --dump " + dir);
  INFO(r.out);
  REQUIRE(r.rc == 0);
  const NpyArray out = ReadNpy(dir + "/out.npy");
  REQUIRE(out.shape == std::vector<int64_t>{1, 6, 3});
  for (int t = 0; t < 6; ++t)
    for (int c = 0; c < 3; ++c) CHECK(std::abs(out.data[t * 3 + c] - kBookContext[t][c]) <= kPrinted);
  // A flag that disagrees with the file is a clear error; a different head count default does
  // not get in the way of the single-head variants.
  const Cli bad = RunCli("run --backend naive --variant simplified --seq-len 7 --input " ATTNBENCH_TEST_DATA "/book_inputs.npy");
  CHECK(bad.rc == 2);
  CHECK_THAT(bad.out, Catch::Contains("--seq-len 7 conflicts with --input") && Catch::Contains("(seq-len = 6)"));
  const Cli self = RunCli("run --backend naive --variant self --d-in 4 --d-out 6 --data-seed 1");
  INFO(self.out);
  CHECK(self.rc == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("explain CLI: examples, flag conflicts, --json, a backend beside the reference with its diagnosis") {
  const Cli book = RunCli("explain --example book");
  REQUIRE(book.rc == 0);
  CHECK_THAT(book.out, Catch::Contains("journey") && Catch::Contains("0.4419  0.6515  0.5683"));
  const Cli seed = RunCli("explain --example seed");
  REQUIRE(seed.rc == 0);
  CHECK_THAT(seed.out, Catch::Contains("note: the chapter notes") && Catch::Contains("1.2840  1.1400"));
  const Cli conflict = RunCli("explain --example book --seq-len 3");
  CHECK(conflict.rc == 2);
  CHECK_THAT(conflict.out, Catch::Contains("--example book sets the problem; drop --seq-len"));
  CHECK(RunCli("explain --example nope").rc == 2);

  const Cli json = RunCli("explain --json --variant causal --seq-len 3 --d-in 5 --d-out 4 --dropout 0.5");
  REQUIRE(json.rc == 0);
  const auto j = nlohmann::json::parse(json.out);
  CHECK(j["problem"]["heads"] == 1);  // the single-head variants default to one head
  CHECK(j["steps"][4]["title"] == "Causal mask");
  CHECK(j["steps"][4]["matrices"][0]["values"][0][2] == "-inf");
  CHECK(j["steps"][5]["title"] == "Attention weights (softmax)");
  CHECK(j["steps"][5]["matrices"][0]["row_sums"][1] == Approx(1.0));

  const Cli good = RunCli("explain --backend naive --seq-len 5 --data-seed 3");
  INFO(good.out);
  CHECK(good.rc == 0);
  CHECK_THAT(good.out, Catch::Contains("Backend naive beside the reference (batch 0): PASS"));
  const Cli bad = RunCli("explain --plugin " ATTNBENCH_TEST_PLUGIN_DIR "/mutant-softmax_axis.so --backend mutant-softmax-axis "
                         "--seq-len 5 --data-seed 3");
  INFO(bad.out);
  CHECK(bad.rc == 1);
  CHECK_THAT(bad.out, Catch::Contains("diagnosis: matches the reference with the softmax taken over queries instead of keys"));
}
