#include "peers.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>

#include "../grid.h"
#include "../npy.h"
#include "../problem_data.h"
#include "../validate.h"
#include "atomic_file.h"
#include "locate.h"
#include "python_tool.h"
#include "report.h"

namespace attnbench::bench {

namespace fs = std::filesystem;

namespace {

std::string DefaultPython() {
  if (const char* v = std::getenv("ATTNBENCH_PEERS_PYTHON"); v && *v) return v;
  std::vector<std::string> candidates;
  if (const char* v = std::getenv("PEERS_VENV"); v && *v) candidates.push_back(std::string(v) + "/bin/python");
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back((exe.parent_path() / ".." / "peers-venv" / "bin" / "python").lexically_normal().string());
  if (auto p = FindProjectFile("build/peers-venv/bin/python"); !p.empty()) candidates.push_back(p);
  for (const auto& c : candidates)
    if (access(c.c_str(), X_OK) == 0) return c;
  return {};
}

// {peer: info or null} from `run_peers.py --probe`; list empty = every known peer.
nlohmann::json Probe(const std::string& python, const std::string& runner, const std::vector<std::string>& names) {
  char tmpl[] = "/tmp/attnbench-peers-probe-XXXXXX";
  const int fd = mkstemp(tmpl);
  if (fd < 0) throw InputError("--peers: cannot create a temporary file");
  close(fd);
  std::vector<std::string> argv = {python, runner, "--probe"};
  if (!names.empty()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ",") + n;
    argv.insert(argv.end(), {"--peers", list});
  }
  const int rc = RunProgram(argv, tmpl);
  const std::string text = ReadWholeFile(tmpl);
  fs::remove(tmpl);
  if (rc != 0)
    throw InputError("--peers: " + python + " " + runner + " --probe failed (exit " + std::to_string(rc) +
                     "; see its message above)");
  try {
    return nlohmann::json::parse(text);
  } catch (const std::exception&) {
    throw InputError("--peers: the runner's --probe did not print JSON: " + text.substr(0, 200));
  }
}

}  // namespace

std::string PeerBackendName(const std::string& peer) { return "peer-" + peer; }

std::string PeerSetup::Describe() const {
  std::string s;
  for (const auto& n : present) s += (s.empty() ? "" : ", ") + n;
  if (s.empty()) s = "none present";
  for (size_t i = 0; i < absent.size(); ++i) s += (i ? ", " : "; absent: ") + absent[i];
  return s;
}

nlohmann::json PeerSetup::ToJson() const {
  return {{"python", python},
          {"runner", runner},
          {"present", present},
          {"absent", absent},
          {"info", info},
          {"timing", "peers/run_peers.py: a validation call, a warm-up call, then the bench's repetitions of n calls "
                     "(n so one repetition lasts >= min_time), time.perf_counter, Python call overhead included; "
                     "with --cache cold the calls cycle through `rotation` separately prepared copies of the "
                     "peer and its data, as the backends cycle through copies of theirs"}};
}

PeerSetup ResolvePeers(const std::string& peers, const std::string& python_flag) {
  PeerSetup s;
  if (peers.empty() || peers == "none") {
    if (!python_flag.empty()) throw InputError("--peers-python is only used with --peers (auto or a list)");
    return s;
  }
  const bool automatic = peers == "auto";
  const std::vector<std::string> names = automatic ? std::vector<std::string>{} : SplitList("--peers", peers);
  s.runner = FindProjectFile("peers/run_peers.py");
  if (s.runner.empty()) throw InputError("--peers: cannot find peers/run_peers.py (set ATTNBENCH_SOURCE_DIR)");
  s.python = python_flag.empty() ? DefaultPython() : python_flag;
  if (s.python.empty() || access(s.python.c_str(), X_OK) != 0) {
    const std::string why = python_flag.empty() ? "no peers venv found (scripts/setup --with-peers creates build/peers-venv)"
                                                : "--peers-python '" + python_flag + "' is not an executable";
    if (!automatic) throw InputError("--peers " + peers + ": " + why);
    s.absent = {"(all: " + why + ")"};
    s.python.clear();
    return s;
  }
  nlohmann::json probe;
  try {
    probe = Probe(s.python, s.runner, names);
  } catch (const InputError& e) {
    if (!automatic) throw;
    s.absent = {std::string("(all: ") + e.what() + ")"};  // auto: a broken venv means no peers, said
    return s;
  }
  for (const auto& [name, info] : probe.items()) {
    if (info.is_null()) {
      s.absent.push_back(name);
    } else {
      s.present.push_back(name);
      s.info[name] = info;
    }
  }
  if (!automatic && !s.absent.empty()) {
    std::string list;
    for (const auto& n : s.absent) list += (list.empty() ? "" : ", ") + n;
    throw InputError("--peers: not importable with " + s.python + ": " + list +
                     " (scripts/setup-peers installs them; --peers auto runs the ones present)");
  }
  // The probe lists in the runner's order; keep the user's order for an explicit list.
  if (!automatic) s.present = names;
  return s;
}

std::vector<Cell> RunPeers(const PeerSetup& setup, const std::vector<PlannedConfig>& plan, const std::string& out,
                           const SweepOptions& so, bool quiet, std::string* error) {
  const TimingPlan& timing = so.timing;
  const double budget_s = so.budget_s;
  const uint64_t data_seed = so.data_seed;
  std::vector<Cell> cells;
  if (setup.empty() || plan.empty()) return cells;
  const fs::path dir = fs::path(out) / "peers";
  const fs::path inputs = dir / "inputs";
  std::error_code ec;
  fs::remove_all(inputs, ec);
  fs::create_directories(inputs, ec);
  if (ec) {
    *error = "cannot create " + inputs.string();
    return cells;
  }
  // --benchmark_filter applies to peer cells as to backend cells ("peer-torch/mha/B:1/...").
  std::optional<std::regex> filter;
  if (!so.filter.empty() && so.filter != "all") filter.emplace(so.filter, std::regex::extended);
  nlohmann::json configs = nlohmann::json::array();
  for (size_t k = 0; k < plan.size(); ++k) {
    const Config& c = plan[k].config;
    const ab_problem& p = c.problem;
    std::vector<std::string> peers;
    for (const auto& n : setup.present)
      if (!filter || std::regex_search(BenchmarkName(PeerBackendName(n), c), *filter)) peers.push_back(n);
    if (peers.empty()) continue;
    const std::string sub = "cfg" + std::to_string(k);
    fs::create_directories(inputs / sub, ec);
    // The sweep's draw (sweep.cpp), redraws of a mistrusted first draw included.
    ValidationCase vc = PrepareCase(p, data_seed, so.sample_rows);
    ProblemData& data = vc.data;
    WriteNpy((inputs / sub / "x.npy").string(), data.x.data(), {p.batch, p.seq_len, p.d_in});
    for (auto& t : WeightTensors(data))
      WriteNpy((inputs / sub / (std::string(t.name) + ".npy")).string(), t.buf->data(), t.shape);
    configs.push_back({{"section", plan[k].sections},
                       {"peers", peers},
                       {"rotation", RotationCount(DataBytes(data), so.cold_bytes, so.cold_cache)},
                       {"name", BenchmarkName("{backend}", c)},
                       {"dir", "inputs/" + sub},
                       {"threads", p.threads},
                       {"problem",
                        {{"variant", VariantName(c.variant)}, {"batch", p.batch}, {"seq_len", p.seq_len},
                         {"d_in", p.d_in}, {"d_out", p.d_out}, {"heads", p.heads}, {"causal", p.causal != 0},
                         {"qkv_bias", p.qkv_bias != 0}, {"dropout_p", p.dropout_p}, {"dropout_seed", p.dropout_seed},
                         {"data_seed", vc.data_seed}}}});
  }
  if (configs.empty()) {
    fs::remove_all(inputs, ec);
    return cells;  // the filter left no peer cell
  }
  const fs::path manifest = dir / "manifest.json";
  std::ofstream(manifest) << nlohmann::json{{"format", "attnbench-peers-1"}, {"configs", configs}}.dump(1) << "\n";
  std::string list;
  for (const auto& n : setup.present) list += (list.empty() ? "" : ",") + n;
  char num[3][32];
  std::snprintf(num[0], sizeof num[0], "%d", timing.repetitions);
  std::snprintf(num[1], sizeof num[1], "%.17g", timing.min_time);
  std::snprintf(num[2], sizeof num[2], "%.17g", budget_s);
  if (!quiet)
    std::fprintf(stderr, "peers: %s on %zu configs (%s)\n", list.c_str(), configs.size(), setup.python.c_str());
  fs::remove(dir / "summary.csv", ec);
  const int rc = RunProgram({setup.python, setup.runner, "--manifest", manifest.string(), "--peers", list,
                             "--repetitions", num[0], "--min-time", num[1], "--budget", num[2], "--out", dir.string()},
                            quiet ? "/dev/null" : "/dev/stderr");
  fs::remove_all(inputs, ec);
  if (!fs::exists(dir / "summary.csv")) {
    *error = "peers/run_peers.py ended (exit " + std::to_string(rc) + ") without writing " +
             (dir / "summary.csv").string();
    return cells;
  }
  try {
    cells = ParseSummaryCsv(ReadWholeFile(dir / "summary.csv"));
  } catch (const std::exception& e) {
    *error = std::string("cannot read the peers' summary.csv: ") + e.what();
    cells.clear();
  }
  return cells;
}

}  // namespace attnbench::bench
