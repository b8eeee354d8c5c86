// The table of problem keys: every key reaches every place that lists keys, the records made from
// it round-trip, and the names, reproducer lines, columns and messages are those the tool printed
// before the table (earlier runs are compared by them).
#include <catch2/catch.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>

#include "bench/preset.h"
#include "bench/report.h"
#include "bench/sweep.h"
#include "cli/cli_common.h"
#include "problem_keys.h"

using namespace attnbench;
using namespace attnbench::bench;

namespace {

Config MakeConfig(Variant v, int32_t b, int32_t t, int32_t din, int32_t dout, int32_t h) {
  return Config{v, MakeProblem(v, b, t, din, dout, h)};
}

// A grid with no key at its default, to catch a key that is dropped on the way.
GridSpec OddSpec() {
  GridSpec s;
  s.variants = "self,mha";
  s.batch = "2,3";
  s.seq_len = "5";
  s.heads = "2";
  s.d_in = "8,16";
  s.d_out = "12";
  s.dropout = "0.25";
  s.qkv_bias = "1";
  s.causal = "off";
  s.seed = 18446744073709551557ull;  // above 2^63: kept as an unsigned number
  s.threads = 3;
  s.kv_heads = "1,2";
  s.window = "3";
  s.past_len = "0,4";
  return s;
}

// What the validate / run command line makes of these arguments.
GridSpec ParseValidateArgs(const std::vector<std::string>& args) {
  CLI::App app;
  GridSpec s;
  cli::AddGridFlags(&app, s);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes the vector reversed
  app.parse(reversed);
  return s;
}

}  // namespace

TEST_CASE("problem keys: every key has a flag, a preset key, a JSON name and (but seed) a column") {
  std::vector<std::string> columns = SummaryCsvColumns();
  for (const ProblemKey& k : ProblemKeys()) {
    if (k.form == KeyForm::kDerived) {
      CHECK(k.name == nullptr);
      REQUIRE(k.column != nullptr);
      CHECK(std::count(columns.begin(), columns.end(), k.column) == 1);
      continue;
    }
    INFO(k.name);
    REQUIRE(k.help != nullptr);
    CHECK(FindPresetKey(k.name) == &k);
    CHECK(k.preset_rank >= 0);
    CHECK(k.repro_part != nullptr);
    // The seed is one per sweep: summary.csv and the names never carried it.
    if (std::string(k.name) == "seed") {
      CHECK(k.column == nullptr);
      CHECK(k.name_rank < 0);
    } else {
      REQUIRE(k.column != nullptr);
      CHECK(std::count(columns.begin(), columns.end(), k.column) == 1);
      CHECK(k.name_part != nullptr);
    }
    // Threads are printed once per validate run, not per problem.
    if (std::string(k.name) != "threads") CHECK(k.json != nullptr);
    if (k.form == KeyForm::kList || k.form == KeyForm::kSwitch) CHECK(k.text != nullptr);
    if (k.form == KeyForm::kNumber) CHECK(k.number != nullptr);
  }
  CHECK(FindPresetKey("variants") == FindPresetKey("variant"));
  CHECK(FindPresetKey("bogus") == nullptr);
  CHECK(GridFlagNames() == std::vector<std::string>{"--variant", "--batch", "--seq-len", "--heads", "--kv-heads",
                                                    "--window", "--past-len", "--d-in", "--d-out", "--causal",
                                                    "--no-causal", "--dropout", "--seed", "--qkv-bias", "--threads"});
}

TEST_CASE("problem keys: summary.csv's problem columns and their order are the ones before the table") {
  const std::vector<std::string> cols = SummaryCsvColumns();
  REQUIRE(cols.size() > 18);
  // The version-2 keys are appended after the columns of earlier runs.
  CHECK(std::vector<std::string>(cols.begin(), cols.begin() + 19) ==
        std::vector<std::string>{"section", "backend", "variant", "batch", "seq_len", "d_in", "d_out", "heads",
                                 "head_dim", "qkv_proj", "causal", "qkv_bias", "out_proj", "dropout", "threads",
                                 "kv_heads", "window", "past_len", "name"});
}

TEST_CASE("problem keys: a summary.csv written before kv_heads / window / past_len reads as multi-head, no cache") {
  const std::string old_csv =
      "section,backend,variant,batch,seq_len,d_in,d_out,heads,head_dim,qkv_proj,causal,qkv_bias,out_proj,dropout,"
      "threads,name,status\n"
      "s,naive,mha,1,64,48,48,4,12,1,1,0,1,0,1,naive/mha/B:1/T:64/din:48/dout:48/H:4/threads:1,PASS\n";
  const auto cells = ParseSummaryCsv(old_csv);
  REQUIRE(cells.size() == 1);
  CHECK(cells[0].config.problem.heads == 4);
  CHECK(cells[0].config.problem.kv_heads == 4);
  CHECK(cells[0].config.problem.window == 0);
  CHECK(cells[0].config.problem.past_len == 0);
  CHECK(BenchmarkName("naive", cells[0].config) == cells[0].name);
  // Written now and read back, in either column order, a grouped-query cell keeps its kv_heads.
  Cell c;
  c.config = MakeConfig(Variant::kMha, 1, 1, 48, 48, 4);
  c.config.problem.kv_heads = 2;
  c.config.problem.window = 8;
  c.config.problem.past_len = 100;
  BenchRun run;
  run.cells = {c};
  const auto back = ParseSummaryCsv(MakeReporter("csv")->Render(run));
  REQUIRE(back.size() == 1);
  CHECK(ProblemJson(back[0].config) == ProblemJson(c.config));
  const auto swapped = ParseSummaryCsv("kv_heads,heads\n2,4\n");
  CHECK(swapped[0].config.problem.kv_heads == 2);
  CHECK(swapped[0].config.problem.heads == 4);
}

TEST_CASE("problem keys: a cell's problem survives summary.csv (all but the seed)") {
  Cell c;
  c.section = "s";
  c.backend = "naive";
  c.config = MakeConfig(Variant::kSelf, 2, 17, 12, 24, 3);
  c.config.problem.causal = 1;
  c.config.problem.qkv_bias = 1;
  c.config.problem.dropout_p = 0.1f;
  c.config.problem.threads = 2;
  c.name = BenchmarkName(c.backend, c.config);
  c.status = "PASS";
  BenchRun run;
  run.cells = {c};
  const auto back = ParseSummaryCsv(MakeReporter("csv")->Render(run));
  REQUIRE(back.size() == 1);
  const Config& r = back[0].config;
  CHECK(r.variant == Variant::kSelf);
  CHECK(ProblemJson(r) == ProblemJson(c.config));
  CHECK(r.problem.threads == 2);
  CHECK(r.problem.qkv_proj == 1);
  CHECK(back[0].name == c.name);
  CHECK(CellFromJson(CellToJson(c)).config.problem.dropout_p == 0.1f);
}

TEST_CASE("problem keys: benchmark names are the ones before the table") {
  Config c = MakeConfig(Variant::kMha, 1, 1024, 768, 768, 12);
  c.problem.threads = 2;
  CHECK(BenchmarkName("blas", c) == "blas/mha/B:1/T:1024/din:768/dout:768/H:12/threads:2");
  c.problem.causal = 0;
  c.problem.dropout_p = 0.1f;
  c.problem.qkv_bias = 1;
  c.problem.dropout_seed = 9;  // not part of the name
  CHECK(BenchmarkName("peer-torch", c) == "peer-torch/mha/B:1/T:1024/din:768/dout:768/H:12/threads:2/causal:0/dropout:0.1/bias");
  Config g = MakeConfig(Variant::kMha, 1, 1, 4096, 4096, 32);
  g.problem.kv_heads = 8;
  g.problem.past_len = 4096;
  g.problem.window = 256;
  CHECK(BenchmarkName("fused", g) == "fused/mha/B:1/T:1/din:4096/dout:4096/H:32/threads:1/KVH:8/W:256/P:4096");
  Config s = MakeConfig(Variant::kSimplified, 3, 17, 12, 99, 3);
  CHECK(BenchmarkName("", s) == "/simplified/B:3/T:17/din:12/dout:12/H:3/threads:1");
  s.problem.causal = 1;
  CHECK(BenchmarkName("x", s) == "x/simplified/B:3/T:17/din:12/dout:12/H:3/threads:1/causal:1");
}

TEST_CASE("problem keys: reproducer flags are the ones before the table and repeat the config") {
  Config c = MakeConfig(Variant::kMha, 1, 1024, 768, 768, 12);
  c.problem.threads = 2;
  c.problem.dropout_seed = 1;
  CHECK(ConfigFlags(c) ==
        "--variant mha --batch 1 --seq-len 1024 --heads 12 --d-in 768 --d-out 768 --causal --dropout 0 --seed 1 "
        "--qkv-bias 0 --threads 2");
  Config s = MakeConfig(Variant::kSimplified, 2, 3, 48, 48, 1);
  s.problem.dropout_p = 0.1f;
  s.problem.dropout_seed = 7;
  CHECK(ConfigFlags(s) == "--variant simplified --batch 2 --seq-len 3 --heads 1 --d-in 48 --no-causal --dropout 0.1 "
                          "--seed 7 --threads 1");

  Config g = MakeConfig(Variant::kCausal, 2, 3, 24, 36, 6);
  g.problem.kv_heads = 2;
  g.problem.window = 4;
  g.problem.past_len = 1000;
  CHECK(ConfigFlags(g) == "--variant causal --batch 2 --seq-len 3 --heads 6 --kv-heads 2 --window 4 --past-len 1000 "
                          "--d-in 24 --d-out 36 --causal --dropout 0 --seed 0 --qkv-bias 0 --threads 1");

  // The flags, split on spaces and parsed by validate's command line, give this config again.
  for (const Config& want : {c, s, g}) {
    std::vector<std::string> args;
    std::string flags = ConfigFlags(want);
    for (size_t a = 0; a < flags.size();) {
      size_t b = flags.find(' ', a);
      if (b == std::string::npos) b = flags.size();
      args.push_back(flags.substr(a, b - a));
      a = b + 1;
    }
    const auto got = ExpandGrid(ParseValidateArgs(args));
    REQUIRE(got.size() == 1);
    CHECK(ProblemJson(got[0]) == ProblemJson(want));
    CHECK(got[0].problem.threads == want.problem.threads);
  }
}

TEST_CASE("problem keys: ProblemJson is validate --json's problem object") {
  Config c = MakeConfig(Variant::kCausal, 2, 17, 12, 24, 3);
  c.problem.dropout_p = 0.1f;
  c.problem.dropout_seed = 5;
  c.problem.qkv_bias = 1;
  CHECK(ProblemJson(c).dump() ==
        R"({"batch":2,"causal":true,"d_in":12,"d_out":24,"dropout":0.10000000149011612,"heads":3,"kv_heads":3,)"
        R"("out_proj":false,"past_len":0,"qkv_bias":true,"seed":5,"seq_len":17,"variant":"causal","window":0})");
}

TEST_CASE("problem keys: GridSpecJson round-trips and refuses bad records") {
  const GridSpec s = OddSpec();
  const nlohmann::json j = GridSpecJson(s);
  CHECK(j["seq-len"] == "5");
  CHECK(j["causal"] == "off");
  CHECK(j["seed"] == 18446744073709551557ull);
  CHECK(j["threads"] == 3);
  const GridSpec back = GridSpecFromJson(j);
  CHECK(GridSpecJson(back) == j);
  CHECK(back.variants == s.variants);
  CHECK(back.seed == s.seed);
  CHECK(back.threads == s.threads);
  CHECK(GridSpecJson(GridSpecFromJson(GridSpecJson(GridSpec{}))) == GridSpecJson(GridSpec{}));

  nlohmann::json bad = j;
  bad.erase("heads");
  CHECK_THROWS_WITH(GridSpecFromJson(bad), Catch::Contains("missing key 'heads'"));
  bad = j;
  bad["stride"] = "4";
  CHECK_THROWS_WITH(GridSpecFromJson(bad), Catch::Contains("unknown key 'stride'"));
  // A record written before the version-2 keys reads as their defaults; an unknown key beside
  // the missing ones is still seen.
  bad = j;
  for (const char* k : {"kv-heads", "window", "past-len"}) bad.erase(k);
  const GridSpec older = GridSpecFromJson(bad);
  CHECK(older.kv_heads == "heads");
  CHECK(older.window == "0");
  CHECK(older.past_len == "0");
  bad["stride"] = "4";
  CHECK_THROWS_WITH(GridSpecFromJson(bad), Catch::Contains("unknown key 'stride'"));
  bad = j;
  bad["variants"] = "mha";  // a preset alias, not a record key
  CHECK_THROWS_AS(GridSpecFromJson(bad), InputError);
  bad = j;
  bad["batch"] = 2;
  CHECK_THROWS_WITH(GridSpecFromJson(bad), Catch::Contains("'batch' must be a string"));
  bad = j;
  bad["seed"] = "1";
  CHECK_THROWS_WITH(GridSpecFromJson(bad), Catch::Contains("'seed' must be an integer"));
  bad = j;
  bad["seed"] = -1;
  CHECK_THROWS_AS(GridSpecFromJson(bad), InputError);
  bad = j;
  bad["causal"] = "maybe";
  CHECK_THROWS_WITH(GridSpecFromJson(bad), Catch::Contains("default, on or off"));
  CHECK_THROWS_AS(GridSpecFromJson(nlohmann::json::array()), InputError);
}

TEST_CASE("problem keys: GridSpecArgs parsed by validate's command line gives the same grid") {
  for (const std::string causal : {"default", "on", "off"}) {
    GridSpec s = OddSpec();
    s.causal = causal;
    const auto args = GridSpecArgs(s);
    CHECK(std::count(args.begin(), args.end(), "--causal") == (causal == "on"));
    CHECK(std::count(args.begin(), args.end(), "--no-causal") == (causal == "off"));
    CHECK(GridSpecJson(ParseValidateArgs(args)) == GridSpecJson(s));
  }
  CHECK(GridSpecArgs(GridSpec{}) ==
        std::vector<std::string>{"--variant", "simplified,self,causal,mha", "--batch", "1,2", "--seq-len",
                                 "1,3,17,65,256", "--heads", "1,3,4", "--d-in", "48", "--d-out", "48", "--dropout",
                                 "0,0.1", "--seed", "1", "--qkv-bias", "0,1", "--threads", "1"});
}

TEST_CASE("problem keys: presets take every key, name them all when one is unknown, default as before") {
  std::string text = "[all]\n";
  const GridSpec s = OddSpec();
  for (const ProblemKey& k : ProblemKeys())
    if (k.name && k.form != KeyForm::kThreads) text += std::string(k.name) + " = " + KeyText(k, s) + "\n";
  text += "threads = 1,all\n";
  const auto sections = ParsePreset(text, "p");
  REQUIRE(sections.size() == 1);
  GridSpec want = s;
  want.threads = sections[0].grid.threads;  // a section keeps its threads apart
  CHECK(GridSpecJson(sections[0].grid) == GridSpecJson(want));
  CHECK(sections[0].threads == "1,all");

  CHECK_THROWS_WITH(ParsePreset("[a]\n\nbogus = 1\n", "f"),
                    "f:3: unknown key 'bogus' (known: variant batch seq-len heads d-in d-out dropout qkv-bias causal "
                    "seed threads kv-heads window past-len)");
  CHECK_THROWS_WITH(ParsePreset("[a]\nseed = x\n", "f"), "f:2: bad value 'x' for 'seed'");

  const GridSpec d = BenchDefaults();
  CHECK(d.variants == "mha");
  CHECK(d.batch == "1");
  CHECK(d.seq_len == "1024");
  CHECK(d.heads == "12");
  CHECK(d.d_in == "768");
  CHECK(d.d_out == "768");
  CHECK(d.dropout == "0");
  CHECK(d.qkv_bias == "0");
  CHECK(d.causal == "default");
  CHECK(d.seed == 1);
  CHECK(d.threads == GridSpec{}.threads);
  CHECK(d.kv_heads == "heads");
  CHECK(d.window == "0");
  CHECK(d.past_len == "0");
}
