#include "merge.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "../grid.h"
#include "../machine/machine.h"
#include "atomic_file.h"
#include "env_info.h"
#include "report.h"
#include "results.h"
#include "sweep.h"

namespace attnbench::bench {

namespace fs = std::filesystem;

namespace {

nlohmann::json ReadJson(const fs::path& p) {
  if (!fs::is_regular_file(p)) throw InputError("merge: " + p.string() + " is missing: not a complete bench output");
  try {
    return nlohmann::json::parse(ReadWholeFile(p.string()));
  } catch (const std::exception& e) {
    throw InputError("merge: " + p.string() + " is not valid JSON (" + e.what() + ")");
  }
}

// "blas/mha/B:1/..." -> "mha/B:1/...": the config part every backend's cell of a config shares.
std::string ConfigKey(const Cell& c) { return BenchmarkName("", c.config); }

// Refuses runs at different commits unless allowed.
void CheckSameCommit(const std::vector<RunDir>& runs, const MergeOptions& o, const char* what) {
  if (o.allow_mixed) return;
  for (const RunDir& r : runs)
    if (r.Commit() != runs[0].Commit())
      throw InputError(std::string("merge: ") + what + " of different commits: " + runs[0].dir + " at " +
                       runs[0].Commit() + ", " + r.dir + " at " + r.Commit() + " (--allow-mixed merges them anyway)");
}

// Google Benchmark's entry name without the "/real_time" suffix: the cell name.
std::string EntryCell(const nlohmann::json& e) {
  std::string rn = e.value("run_name", e.value("name", ""));
  if (rn.ends_with("/real_time")) rn.resize(rn.size() - std::string("/real_time").size());
  return rn;
}

std::string Renamed(const std::string& name, const std::string& host) {
  const auto slash = name.find('/');
  return slash == std::string::npos ? name + "@" + host : name.substr(0, slash) + "@" + host + name.substr(slash);
}

std::string ShardName(const RunDir& r) {
  return std::to_string(r.record.spec.shard_index) + "/" + std::to_string(r.record.spec.shard_count);
}

}  // namespace

std::string RunDir::Host() const { return env.value("host", std::string("?")); }

std::string RunDir::Commit() const {
  if (!env.contains("git") || !env["git"].is_object()) return "?";
  const auto& g = env["git"];
  std::string c = g.contains("commit") && g["commit"].is_string() ? g["commit"].get<std::string>() : "?";
  if (g.value("dirty", false)) c += "-dirty";
  return c;
}

RunDir ReadRunDir(const std::string& dir) {
  if (!fs::is_directory(dir)) throw InputError("merge: '" + dir + "' is not a directory");
  RunDir r;
  r.dir = dir;
  try {
    r.record = ReadSweepRecord(dir);
  } catch (const InputError& e) {
    throw InputError("merge: '" + dir + "' is not a bench output directory: " + e.what());
  }
  r.env = ReadJson(fs::path(dir) / "env.json");
  r.gbench = ReadJson(fs::path(dir) / "bench.json");
  const fs::path csv = fs::path(dir) / "summary.csv";
  if (!fs::is_regular_file(csv)) throw InputError("merge: " + csv.string() + " is missing: not a complete bench output");
  try {
    r.cells = ParseSummaryCsv(ReadWholeFile(csv.string()));
  } catch (const std::exception& e) {
    throw InputError("merge: " + csv.string() + ": " + e.what());
  }
  return r;
}

MergedRun MergeShards(const std::vector<RunDir>& shards, const MergeOptions& o) {
  const RunDir* first = nullptr;
  std::map<int, const RunDir*> by_index;
  for (const RunDir& s : shards) {
    const SweepSpec& spec = s.record.spec;
    if (!first) first = &s;
    if (spec.shard_count != first->record.spec.shard_count)
      throw InputError("merge: " + first->dir + " is a shard of " + std::to_string(first->record.spec.shard_count) +
                       ", " + s.dir + " of " + std::to_string(spec.shard_count) + ": not shards of one run");
    const auto diff = SpecDifferences(UnshardedSpec(first->record.spec), UnshardedSpec(spec));
    if (!diff.empty())
      throw InputError("merge: " + s.dir + " is a shard of another sweep than " + first->dir + " (" + Join(diff, "; ") +
                       "); merge the shards of each run, then the runs");
    auto [it, fresh] = by_index.emplace(spec.shard_index, &s);
    if (!fresh)
      throw InputError("merge: shard " + std::to_string(spec.shard_index) + "/" + std::to_string(spec.shard_count) +
                       " given twice: " + it->second->dir + " and " + s.dir);
  }
  const int n = first->record.spec.shard_count;
  std::vector<std::string> missing;
  for (int i = 0; i < n; ++i)
    if (!by_index.count(i)) missing.push_back(std::to_string(i) + "/" + std::to_string(n));
  if (!missing.empty())
    throw InputError("merge: shard" + std::string(missing.size() > 1 ? "s " : " ") + Join(missing, ", ") +
                     " missing (given " + std::to_string(shards.size()) + " of " + std::to_string(n) + ")");
  std::vector<RunDir> ordered;
  for (const auto& [i, s] : by_index) ordered.push_back(*s);
  CheckSameCommit(ordered, o, "shards");

  MergedRun m;
  m.kind = "shards";
  const std::vector<std::string>& sweep_cells = ordered[0].record.sweep_cells;
  for (const RunDir& s : ordered)
    if (s.record.sweep_cells != sweep_cells)
      throw InputError("merge: " + s.dir + " and " + ordered[0].dir +
                       " split different cell lists (the plugins or the core count differ between the machines)");
  std::map<std::string, size_t> config_last;  // config key -> position of its last sweep cell
  for (size_t k = 0; k < sweep_cells.size(); ++k) {
    m.position[sweep_cells[k]] = 2 * k;
    const auto slash = sweep_cells[k].find('/');
    config_last[sweep_cells[k].substr(slash + 1)] = 2 * k;
  }
  std::map<std::string, std::string> owner;  // cell name -> shard dir
  for (const RunDir& s : ordered) {
    std::set<std::string> rows;
    for (const Cell& c : s.cells) {
      rows.insert(c.name);
      if (auto [it, fresh] = owner.emplace(c.name, s.dir); !fresh)
        throw InputError("merge: cell " + c.name + " is in two shards: " + it->second + " and " + s.dir);
      if (!m.position.count(c.name)) {  // a peer row: after the last cell of its config
        const auto key = ConfigKey(c).substr(1);
        m.position[c.name] = config_last.count(key) ? config_last[key] + 1 : 2 * sweep_cells.size();
      }
      m.run.cells.push_back(c);
    }
    size_t done = 0;
    for (const auto& name : s.record.cells) done += rows.count(name);
    if (done != s.record.cells.size())
      throw InputError("merge: shard " + ShardName(s) + " in " + s.dir + " is unfinished (" +
                       std::to_string(done) + " of " + std::to_string(s.record.cells.size()) +
                       " cells); finish it with `attnbench bench --resume " + s.dir + "`");
  }
  std::stable_sort(m.run.cells.begin(), m.run.cells.end(),
                   [&](const Cell& a, const Cell& b) { return m.position[a.name] < m.position[b.name]; });

  // The first shard's environment and ceiling stand for the run (one process measures one);
  // every shard's machine is kept beside it.
  const RunDir& base = ordered[0];
  m.run.env = base.env;
  m.run.env.erase("sgemm_gflops");
  if (base.env.contains("sgemm_gflops") && base.env["sgemm_gflops"].is_object())
    for (const auto& [t, g] : base.env["sgemm_gflops"].items())
      if (g.is_number()) m.run.sgemm_gflops[std::stoi(t)] = g.get<double>();
  nlohmann::json list = nlohmann::json::array();
  for (const RunDir& s : ordered)
    list.push_back({{"shard", ShardName(s)},
                    {"dir", fs::absolute(s.dir).lexically_normal().string()},
                    {"host", s.Host()},
                    {"cpu", s.env.value("cpu", nlohmann::json())},
                    {"date", s.env.value("date", nlohmann::json())},
                    {"git", s.env.value("git", nlohmann::json())},
                    {"cells", s.record.cells.size()},
                    {"sgemm_gflops", s.env.value("sgemm_gflops", nlohmann::json())}});
  m.run.env["shards"] = list;
  m.run.env["merged"] = {{"date", UtcTimestamp()}, {"kind", "shards"}, {"count", n}};
  m.baseline = base.env.contains("timing") ? base.env["timing"].value("baseline", "") : "";

  m.run.gbench = base.gbench;
  nlohmann::json entries = nlohmann::json::array();
  for (const RunDir& s : ordered)
    for (const auto& e : s.gbench.value("benchmarks", nlohmann::json::array())) entries.push_back(e);
  std::stable_sort(entries.begin(), entries.end(), [&](const nlohmann::json& a, const nlohmann::json& b) {
    return m.position[EntryCell(a)] < m.position[EntryCell(b)];
  });
  m.run.gbench["benchmarks"] = entries;

  m.record.started = base.record.started;
  for (const RunDir& s : ordered) m.record.started = std::min(m.record.started, s.record.started);
  m.record.cores = base.record.cores;
  m.record.spec = UnshardedSpec(base.record.spec);
  m.record.cells = sweep_cells;
  return m;
}

MergedRun MergeHosts(const std::vector<RunDir>& runs, const MergeOptions& o) {
  std::map<std::string, std::string> seen;  // host -> dir
  for (const RunDir& r : runs) {
    if (r.record.spec.shard_count > 1)
      throw InputError("merge: " + r.dir + " is shard " + ShardName(r) +
                       " of a run; merge the shards of each host first, then the hosts");
    if (auto [it, fresh] = seen.emplace(r.Host(), r.dir); !fresh)
      throw InputError("merge: two runs of host " + r.Host() + ": " + it->second + " and " + r.dir +
                       " (merge puts hosts side by side; `attnbench compare` compares two runs of one host)");
  }
  CheckSameCommit(runs, o, "runs");
  MergedRun m;
  m.kind = "hosts";
  nlohmann::json hosts = nlohmann::json::object();
  m.run.gbench = {{"context", runs[0].gbench.value("context", nlohmann::json())},
                  {"benchmarks", nlohmann::json::array()}};
  size_t pos = 0;
  for (const RunDir& r : runs) {
    const std::string host = r.Host();
    m.hosts.push_back(host);
    // Each host's derived metrics against its own ceiling and its own baseline, before renaming.
    BenchRun one;
    one.cells = r.cells;
    one.env = r.env;  // its own machine profile: % of peak against the host's own measured peak
    if (r.env.contains("sgemm_gflops") && r.env["sgemm_gflops"].is_object())
      for (const auto& [t, g] : r.env["sgemm_gflops"].items())
        if (g.is_number()) one.sgemm_gflops[std::stoi(t)] = g.get<double>();
    const std::string baseline = r.env.contains("timing") ? r.env["timing"].value("baseline", "") : "";
    ComputeDerived(one, baseline);
    for (Cell& c : one.cells) {
      if (!c.baseline.empty()) c.baseline += "@" + host;
      c.backend += "@" + host;
      c.name = Renamed(c.name, host);
      m.position[c.name] = pos++;
      m.run.cells.push_back(std::move(c));
    }
    for (auto e : r.gbench.value("benchmarks", nlohmann::json::array())) {
      for (const char* k : {"name", "run_name"})
        if (e.contains(k) && e[k].is_string()) e[k] = Renamed(e[k].get<std::string>(), host);
      m.run.gbench["benchmarks"].push_back(e);
    }
    hosts[host] = r.env;
    hosts[host]["dir"] = fs::absolute(r.dir).lexically_normal().string();
  }
  m.run.env = {{"hosts", hosts},
               {"merged", {{"date", UtcTimestamp()}, {"kind", "hosts"}, {"hosts", m.hosts}}},
               {"date", UtcTimestamp()},
               {"host", Join(m.hosts, ",")}};
  m.record.started = UtcTimestamp();
  m.record.cores = runs[0].record.cores;
  m.record.spec = runs[0].record.spec;
  for (const Cell& c : m.run.cells) m.record.cells.push_back(c.name);
  return m;
}

MergedRun MergeRuns(const std::vector<RunDir>& runs, const MergeOptions& o) {
  if (runs.empty()) throw InputError("merge: no run directories given");
  size_t sharded = 0;
  for (const RunDir& r : runs) sharded += r.record.spec.shard_count > 1;
  if (sharded == runs.size()) return MergeShards(runs, o);
  if (sharded == 0) {
    if (runs.size() < 2) throw InputError("merge: one whole run given; merge takes the shards of a run, or runs of several hosts");
    return MergeHosts(runs, o);
  }
  for (const RunDir& r : runs)
    if (r.record.spec.shard_count == 1)
      throw InputError("merge: " + r.dir + " is a whole run, the others are shards: merge the shards first");
  return MergeShards(runs, o);  // unreachable
}

std::string RenderHostsCsv(const MergedRun& m) {
  const std::string csv = MakeReporter("csv")->Render(m.run);
  std::istringstream in(csv);
  std::ostringstream out;
  std::string line;
  std::getline(in, line);
  out << "host," << line << "\n";
  // summary.csv quotes a field only when it holds a comma, quote or newline; a quoted reason
  // may span lines, so rows are re-rendered one cell at a time rather than split on '\n'.
  for (const Cell& c : m.run.cells) {
    BenchRun one;
    one.cells = {c};
    std::string row = MakeReporter("csv")->Render(one);
    row = row.substr(row.find('\n') + 1);
    const auto at = c.backend.rfind('@');
    out << (at == std::string::npos ? "" : c.backend.substr(at + 1)) << "," << row;
  }
  return out.str();
}

std::string RenderHostsReport(const MergedRun& m) {
  std::ostringstream os;
  os << "# attnbench report: " << m.hosts.size() << " hosts side by side\n\n";
  os << "Each host is a series, like a backend: rows are `backend@host`, each measured and derived "
        "(GFLOP/s, % of its own measured peak, speedup over its own baseline) on its own host.\n\n";
  os << "| host | CPU | cores | ISA | measured FMA peak (GFLOP/s at threads) | BLAS kernel | best SGEMM (GFLOP/s at "
        "threads) | commit | date |\n";
  os << "|---|---|--:|---|---|---|---|---|---|\n";
  auto str = [](const nlohmann::json& j, const char* a, const char* b = nullptr) -> std::string {
    const nlohmann::json* p = j.contains(a) ? &j[a] : nullptr;
    if (p && b) p = p->is_object() && p->contains(b) ? &(*p)[b] : nullptr;
    if (!p || p->is_null()) return "?";
    return p->is_string() ? p->get<std::string>() : p->dump();
  };
  for (const auto& h : m.hosts) {
    const auto& e = m.run.env["hosts"][h];
    std::string ceiling;
    if (e.contains("sgemm_gflops") && e["sgemm_gflops"].is_object())
      for (const auto& [t, g] : e["sgemm_gflops"].items()) {
        char buf[48];
        std::snprintf(buf, sizeof buf, "%.1f at %s", g.is_number() ? g.get<double>() : 0.0, t.c_str());
        ceiling += (ceiling.empty() ? "" : ", ") + std::string(buf);
      }
    std::string peaks;
    if (e.contains("machine") && e["machine"].is_object()) {
      try {
        const auto p = e["machine"].get<machine::MachineProfile>();
        std::set<int> threads;
        for (const auto& f : p.fma) threads.insert(f.threads);
        for (int t : threads) {
          char buf[48];
          std::snprintf(buf, sizeof buf, "%.1f at %d", machine::BestFmaGflops(p, t), t);
          peaks += (peaks.empty() ? "" : ", ") + std::string(buf);
        }
      } catch (const std::exception&) {
        peaks = "unreadable";
      }
    }
    os << "| " << h << " | " << str(e, "cpu", "model") << " | " << str(e, "cpu", "cores") << " | " << str(e, "cpu", "isa")
       << " | " << (peaks.empty() ? "not measured" : peaks) << " | " << str(e, "blas", "library") << " " << str(e, "blas", "kernel") << " | " << ceiling << " | "
       << str(e, "git", "commit") << " | " << str(e, "date") << " |\n";
  }
  // The ordinary report's per-config tables (backend@host rows), without its one-machine header.
  const std::string body = MakeReporter("markdown")->Render(m.run);
  const auto first = body.find("\n## ");
  os << "\n" << (first == std::string::npos ? body : body.substr(first + 1));
  return os.str();
}

void WriteMergedRun(MergedRun& m, const std::string& out) {
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec || !fs::is_directory(out)) throw InputError("--out: cannot create directory '" + out + "'");
  RemoveStaleTempFiles(out);
  if (m.kind == "shards") {
    ResultsDir dir(out, m.baseline, m.position);
    dir.Save(m.run);
    dir.WriteRecord(m.record);
    return;
  }
  for (const auto& f : {"env", "json"}) {
    const auto r = MakeReporter(f);
    WriteFileAtomic((fs::path(out) / r->FileName()).string(), r->Render(m.run));
  }
  WriteFileAtomic((fs::path(out) / "summary.csv").string(), RenderHostsCsv(m));
  WriteFileAtomic((fs::path(out) / "report.md").string(), RenderHostsReport(m));
  WriteFileAtomic((fs::path(out) / "sweep.json").string(), SweepRecordJson(m.record).dump(2) + "\n");
}

}  // namespace attnbench::bench
