#include "resume.h"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <map>

#include "atomic_file.h"
#include "report.h"

namespace attnbench::bench {

namespace fs = std::filesystem;

namespace {

nlohmann::json ReadJsonFile(const fs::path& p) {
  try {
    return nlohmann::json::parse(ReadWholeFile(p.string()));
  } catch (const std::exception& e) {
    throw InputError("--resume: " + p.string() + " is not valid JSON (" + e.what() + "); cannot resume");
  }
}

}  // namespace

PreviousRun ReadPreviousRun(const std::string& out) {
  const fs::path dir = out;
  PreviousRun prev;
  if (fs::exists(dir / "env.json")) prev.env = ReadJsonFile(dir / "env.json");
  if (fs::exists(dir / "bench.json")) prev.gbench = ReadJsonFile(dir / "bench.json");
  if (fs::exists(dir / "summary.csv")) {
    try {
      prev.cells = ParseSummaryCsv(ReadWholeFile((dir / "summary.csv").string()));
    } catch (const std::exception& e) {
      throw InputError(std::string("--resume: ") + e.what());
    }
  }
  // Without env.json the machine, BLAS and backend builds the kept cells were measured with are
  // unknown: mixing them with new cells, or dropping them without a word, are both wrong.
  const size_t finished = std::count_if(prev.cells.begin(), prev.cells.end(), [](const Cell& c) { return c.finished(); });
  if (!prev.env.is_object() && finished > 0)
    throw InputError("--resume " + out + ": env.json is missing, so the environment of the " + std::to_string(finished) +
                     " finished cells cannot be checked against this one; restore it, or start again with --force");
  return prev;
}

std::vector<Cell> ReadFinishedRows(const std::string& out) {
  const fs::path csv = fs::path(out) / "summary.csv";
  if (!fs::exists(csv)) return {};
  try {
    return ParseSummaryCsv(ReadWholeFile(csv.string()));
  } catch (const std::exception&) {
    return {};
  }
}

void CheckSameCells(const SweepRecord& rec, const Sweep& w, const std::string& out) {
  const std::vector<std::string> names = w.CellNames();
  const std::vector<std::string>& recorded = rec.cells;
  if (names == recorded) return;
  size_t k = 0;
  while (k < names.size() && k < recorded.size() && names[k] == recorded[k]) ++k;
  throw InputError("--resume " + out + ": the sweep re-derived here (" + std::to_string(names.size()) +
                   " cells) differs from the recorded one (" + std::to_string(recorded.size()) +
                   " cells), first at cell " + std::to_string(k) + ": recorded '" +
                   (k < recorded.size() ? recorded[k] : "(none)") + "', now '" + (k < names.size() ? names[k] : "(none)") +
                   "' (cores recorded " + std::to_string(rec.cores) + ", now " + std::to_string(CpuCount()) + ")");
}

void CheckSameEnvironment(const nlohmann::json& old_env, const Sweep& w, const BlasInfo& blas) {
  if (!old_env.is_object()) return;
  std::vector<std::string> problems;
  std::set<std::string> before, now;
  if (old_env.contains("backends") && old_env["backends"].is_object())
    for (const auto& [name, info] : old_env["backends"].items()) before.insert(name);
  for (const auto* b : w.backends) now.insert(b->name);
  std::vector<std::string> missing, added;
  std::set_difference(before.begin(), before.end(), now.begin(), now.end(), std::back_inserter(missing));
  std::set_difference(now.begin(), now.end(), before.begin(), before.end(), std::back_inserter(added));
  if (!missing.empty()) problems.push_back("backends of the recorded run not loaded now: " + Join(missing, ", "));
  if (!added.empty()) problems.push_back("backends loaded now that the recorded run did not have: " + Join(added, ", "));
  for (const auto* b : w.backends) {
    if (!before.count(b->name)) continue;
    const auto& old = old_env["backends"][b->name];
    const std::string was = old.is_string() ? old.get<std::string>() : old.dump();
    if (was != b->runtime_info)
      problems.push_back("backend " + b->name + ": runtime was '" + was + "', now '" + b->runtime_info + "'");
  }
  if (old_env.contains("blas") && old_env["blas"].is_object()) {
    const std::string lib = old_env["blas"].value("library", ""), kernel = old_env["blas"].value("kernel", "");
    if (lib != blas.library || kernel != blas.kernel)
      problems.push_back("BLAS was " + lib + " kernel " + kernel + ", now " + blas.library + " kernel " + blas.kernel);
  }
  if (!problems.empty())
    throw InputError("--resume: the environment differs from the recorded run in ways that change the numbers: " +
                     Join(problems, "; ") + ". Start a new run with --out instead.");
}

CellsLeft SplitFinished(const Sweep& w, const std::vector<Cell>& old_cells, BenchRun& run) {
  std::set<std::string> names;
  for (const auto& c : w.cells) names.insert(c.name);
  CellsLeft left;
  for (const Cell& c : old_cells)
    if (c.finished() && names.count(c.name) && left.kept.insert(c.name).second) run.cells.push_back(c);
  for (const auto& c : w.cells)
    if (!left.kept.count(c.name)) left.todo.push_back(c);
  return left;
}

void AdoptPreviousRun(const PreviousRun& prev, const std::set<std::string>& kept, BenchRun& run) {
  run.env = prev.env;
  run.env.erase("sgemm_gflops");
  if (prev.env.contains("sgemm_gflops") && prev.env["sgemm_gflops"].is_object())
    for (const auto& [t, g] : prev.env["sgemm_gflops"].items())
      if (g.is_number()) run.sgemm_gflops[std::stoi(t)] = g.get<double>();
  if (prev.gbench.is_object()) run.gbench = prev.gbench;
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& e : run.gbench.value("benchmarks", nlohmann::json::array())) {
    std::string rn = e.value("run_name", e.value("name", ""));
    if (rn.ends_with("/real_time")) rn.resize(rn.size() - std::string("/real_time").size());
    if (kept.count(rn)) entries.push_back(e);
  }
  run.gbench["benchmarks"] = entries;
}

}  // namespace attnbench::bench
