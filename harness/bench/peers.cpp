#include "peers.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>

#include "../grid.h"
#include "../npy.h"
#include "../problem_data.h"
#include "../problem_keys.h"
#include "../reference.h"
#include "../validate.h"
#include "flop_model.h"
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

// The problem as the peers' reference reads it (scripts/reference.py: the ab_problem field names).
nlohmann::json ManifestProblem(const Config& c, uint64_t data_seed) {
  nlohmann::json j = ProblemFieldsJson(c);
  j["data_seed"] = data_seed;
  return j;
}

// The problem columns of summary.csv as the bench writes them, for the peers' rows.
nlohmann::json ProblemColumns(const Config& c) {
  nlohmann::json j = nlohmann::json::object();
  for (const ProblemKey* k : KeysByRank(&ProblemKey::column_rank)) j[k->column] = k->csv_get(c);
  return j;
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
                     "(n so one repetition lasts >= min_time), taken in rounds (one repetition of each of a config's peers, "
                     "and of its backends when the bench times in rounds, per round), time.perf_counter, Python "
                     "call overhead included; "
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

std::vector<size_t> WritePeerManifest(const std::vector<PlannedConfig>& plan, const std::string& dir, uint64_t data_seed,
                                      int sample_rows, const PeerCellsOf& peers_of, const RotationOf& rotation_of) {
  const fs::path inputs = fs::path(dir) / "inputs";
  std::error_code ec;
  fs::remove_all(inputs, ec);
  fs::create_directories(inputs, ec);
  if (ec) throw InputError("cannot create " + inputs.string());
  nlohmann::json configs = nlohmann::json::array();
  std::vector<size_t> written;
  for (size_t k = 0; k < plan.size(); ++k) {
    const Config& c = plan[k].config;
    const ab_problem& p = c.problem;
    const nlohmann::json peers = peers_of(c);
    if (peers.is_array() && peers.empty()) continue;
    const std::string sub = "cfg" + std::to_string(k);
    fs::create_directories(inputs / sub, ec);
    // The sweep's draw (sweep.cpp), redraws of a mistrusted first draw included.
    ValidationCase vc = PrepareCase(p, data_seed, sample_rows);
    ProblemData& data = vc.data;
    WriteNpy((inputs / sub / "x.npy").string(), data.x.data(), {p.batch, p.seq_len, p.d_in});
    for (auto& t : WeightTensors(data))
      WriteNpy((inputs / sub / (std::string(t.name) + ".npy")).string(), t.buf->data(), t.shape);
    configs.push_back({{"section", plan[k].sections},
                       {"peers", peers},
                       {"rotation", rotation_of(data)},
                       {"name", BenchmarkName("{backend}", c)},
                       {"dir", "inputs/" + sub},
                       {"threads", p.threads},
                       {"problem", ManifestProblem(c, vc.data_seed)},
                       {"columns", ProblemColumns(c)},
                       {"flops", CountFlops(p).total()},
                       // validate.h's tolerance with no score: the runner multiplies it by
                       // (1 + max |scaled score|) of the numpy reference it checks against.
                       {"tol_rel_l2_base", ComputeTolerance(p, ReferenceResult{}).rel_l2}});
    written.push_back(k);
  }
  if (configs.empty()) {
    fs::remove_all(inputs, ec);
    return written;
  }
  std::ofstream(fs::path(dir) / "manifest.json")
      << nlohmann::json{{"format", "attnbench-peers-2"}, {"columns", SummaryCsvColumns()}, {"configs", configs}}.dump(1)
      << "\n";
  return written;
}

PeerSession::PeerSession(const PeerSetup& setup, const std::vector<PlannedConfig>& plan, const std::string& out,
                         const SweepOptions& so, bool quiet)
    : dir_((fs::path(out) / "peers").string()), manifest_of_plan_(plan.size(), 0) {
  if (setup.empty() || plan.empty()) return;
  const fs::path dir = dir_;
  // --benchmark_filter applies to peer cells as to backend cells ("peer-torch/mha/B:1/...").
  std::optional<std::regex> filter;
  if (!so.filter.empty() && so.filter != "all") filter.emplace(so.filter, std::regex::extended);
  std::vector<size_t> configs;
  try {
    configs = WritePeerManifest(
        plan, dir.string(), so.data_seed, so.sample_rows,
        [&](const Config& c) {
          nlohmann::json peers = nlohmann::json::array();
          for (const auto& n : setup.present)
            if (!filter || std::regex_search(BenchmarkName(PeerBackendName(n), c), *filter)) peers.push_back(n);
          return peers;
        },
        [&](const ProblemData& data) { return RotationCount(DataBytes(data), so.cold_bytes, so.cold_cache); });
  } catch (const InputError& e) {
    error_ = e.what();
    return;
  }
  if (configs.empty()) return;  // the filter left no peer cell
  for (size_t m = 0; m < configs.size(); ++m) manifest_of_plan_[configs[m]] = m + 1;
  ran_.assign(configs.size(), false);
  in_rounds_.assign(configs.size(), false);
  round_group_.assign(configs.size(), "");
  std::error_code ec;
  fs::remove(dir / "summary.csv", ec);
  std::string list;
  for (const auto& n : setup.present) list += (list.empty() ? "" : ",") + n;
  char num[3][32];
  std::snprintf(num[0], sizeof num[0], "%d", so.timing.repetitions);
  std::snprintf(num[1], sizeof num[1], "%.17g", so.timing.min_time);
  std::snprintf(num[2], sizeof num[2], "%.17g", so.budget_s);
  // One socket both ways: the runner reads `run K` etc. on its stdin and answers on fd 3. A
  // socket, not pipes, so that writing to a runner that died is an error (MSG_NOSIGNAL), not a
  // SIGPIPE that kills the bench.
  constexpr int kReplyFd = 3;
  const std::vector<std::string> args = {setup.python, setup.runner, "--manifest", (dir / "manifest.json").string(),
                                         "--peers", list, "--repetitions", num[0], "--min-time", num[1],
                                         "--budget", num[2], "--out", dir.string(), "--paced", std::to_string(kReplyFd)};
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    error_ = std::string("cannot create the runner's channel: ") + std::strerror(errno);
    return;
  }
  if (!quiet)
    std::fprintf(stderr, "peers: %s on %zu configs, timed beside each config's backends (%s)\n", list.c_str(),
                 configs.size(), setup.python.c_str());
  // Its progress lines (stdout) go to our stderr, or nowhere when quiet; its errors to stderr.
  const pid_t pid = SpawnChild(args, [&] {
    const int progress = quiet ? open("/dev/null", O_WRONLY | O_CLOEXEC) : dup(STDERR_FILENO);
    return progress >= 0 && dup2(progress, STDOUT_FILENO) >= 0 && dup2(sv[1], STDIN_FILENO) >= 0 &&
           dup2(sv[1], kReplyFd) >= 0;
  });
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    error_ = std::string("cannot start ") + setup.runner + ": " + std::strerror(errno);
    return;
  }
  channel_ = sv[0];
  pid_ = pid;
  // Importing the frameworks takes seconds of CPU: not while the first backends are timed.
  AwaitLine("ready", [] { return InterruptSignal() != 0; });
}

PeerSession::~PeerSession() {
  End(true);
  std::error_code ec;
  fs::remove_all(fs::path(dir_) / "inputs", ec);
}

long PeerSession::ManifestIndex(size_t plan_index) const {
  if (channel_ < 0 || plan_index >= manifest_of_plan_.size() || manifest_of_plan_[plan_index] == 0) return -1;
  return static_cast<long>(manifest_of_plan_[plan_index] - 1);
}

void PeerSession::RunConfig(size_t plan_index, const std::function<bool()>& stop) {
  const long m = ManifestIndex(plan_index);
  if (m < 0 || ran_[m]) return;
  ran_[m] = true;
  Command("run " + std::to_string(m), "done " + std::to_string(m), stop);
}

std::string PeerSession::RoundGroup(size_t plan_index) const {
  if (plan_index >= manifest_of_plan_.size() || manifest_of_plan_[plan_index] == 0) return "";
  return round_group_[manifest_of_plan_[plan_index] - 1];
}

bool PeerSession::BeginRounds(size_t plan_index, const std::string& group, const std::function<bool()>& stop) {
  const long m = ManifestIndex(plan_index);
  if (m < 0 || ran_[m]) return false;
  ran_[m] = true;
  in_rounds_[m] = Command("prepare " + std::to_string(m), "prepared " + std::to_string(m), stop);
  if (in_rounds_[m]) round_group_[m] = group;
  return in_rounds_[m];
}

void PeerSession::Round(size_t plan_index, const std::function<bool()>& stop) {
  const long m = ManifestIndex(plan_index);
  if (m < 0 || !in_rounds_[m]) return;
  Command("rep " + std::to_string(m), "rep " + std::to_string(m), stop);
}

void PeerSession::EndRounds(size_t plan_index, const std::function<bool()>& stop) {
  const long m = ManifestIndex(plan_index);
  if (m < 0 || !in_rounds_[m]) return;
  in_rounds_[m] = false;
  Command("finish " + std::to_string(m), "done " + std::to_string(m), stop);
}

bool PeerSession::Command(const std::string& line, const std::string& answer, const std::function<bool()>& stop) {
  if (channel_ < 0) return false;
  const std::string sent = line + "\n";
  if (send(channel_, sent.data(), sent.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(sent.size())) {
    End(false);  // it is gone; End collects its exit status for Finish's message
    return false;
  }
  AwaitLine(answer, stop);
  return channel_ >= 0;  // AwaitLine ends the runner when it dies or stop() turns true
}

void PeerSession::AwaitLine(const std::string& answer, const std::function<bool()>& stop) {
  for (;;) {
    const size_t nl = pending_.find('\n');
    if (nl != std::string::npos) {
      const std::string line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      if (line == answer) return;
      continue;  // not ours: ignore
    }
    if (stop && stop()) {  // Ctrl-C / SIGTERM: the bench stops, so does the runner
      End(true);
      return;
    }
    char buf[256];
    const ssize_t got = read(channel_, buf, sizeof buf);  // EINTR when a signal comes (no SA_RESTART)
    if (got > 0) {
      pending_.append(buf, static_cast<size_t>(got));
    } else if (!(got < 0 && errno == EINTR)) {  // the runner closed its end: it ended or died
      End(false);
      return;
    }
  }
}

void PeerSession::End(bool kill_it) {
  if (channel_ >= 0) {
    if (!kill_it) send(channel_, "end\n", 4, MSG_NOSIGNAL);
    shutdown(channel_, SHUT_WR);  // end of its stdin
  }
  if (pid_ > 0) {
    if (kill_it) ::kill(pid_, SIGTERM);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
    pid_ = -1;
  }
  if (channel_ >= 0) close(channel_);
  channel_ = -1;
}

std::vector<Cell> PeerSession::Finish(const std::function<bool()>& stop, std::string* error) {
  std::vector<Cell> cells;
  if (!error_.empty()) {
    *error = error_;
    return cells;
  }
  if (ran_.empty()) return cells;  // nothing to run
  for (size_t k = 0; k < manifest_of_plan_.size(); ++k) {
    if (stop && stop()) break;
    RunConfig(k, stop);
  }
  const bool stopped = stop && stop();
  End(stopped);
  std::error_code ec;
  fs::remove_all(fs::path(dir_) / "inputs", ec);
  if (stopped) return cells;
  const fs::path summary = fs::path(dir_) / "summary.csv";
  if (!fs::exists(summary)) {
    *error = "peers/run_peers.py ended (exit " + std::to_string(exit_status_) + ") without writing " +
             summary.string();
    return cells;
  }
  try {
    cells = ParseSummaryCsv(ReadWholeFile(summary));
  } catch (const std::exception& e) {
    *error = std::string("cannot read the peers' summary.csv: ") + e.what();
    cells.clear();
  }
  return cells;
}

}  // namespace attnbench::bench
