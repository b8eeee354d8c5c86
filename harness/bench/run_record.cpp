#include "run_record.h"

#include <filesystem>

#include "../grid.h"
#include "atomic_file.h"

namespace attnbench::bench {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "attnbench-sweep-2";

nlohmann::json SectionJson(const Section& s) {
  return {{"name", s.name}, {"grid", GridSpecJson(s.grid)}, {"threads", s.threads}};
}

Section SectionFromJson(const nlohmann::json& j) {
  return {j.at("name").get<std::string>(), GridSpecFromJson(j.at("grid")), j.at("threads").get<std::string>()};
}

// Walks two JSON values side by side, naming each leaf that differs by its path.
void Diff(const std::string& path, const nlohmann::json& a, const nlohmann::json& b, std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    for (const auto& [k, v] : a.items()) Diff(path.empty() ? k : path + "." + k, v, b.value(k, nlohmann::json()), out);
    for (const auto& [k, v] : b.items())
      if (!a.contains(k)) Diff(path.empty() ? k : path + "." + k, nlohmann::json(), v, out);
  } else if (a.is_array() && b.is_array() && a.size() == b.size() && path != "benchmark_args" && path != "plugins") {
    for (size_t i = 0; i < a.size(); ++i) Diff(path + "[" + std::to_string(i) + "]", a[i], b[i], out);
  } else if (a != b) {
    out.push_back(path + ": " + a.dump() + " recorded, " + b.dump() + " now");
  }
}

}  // namespace

std::string SweepSpec::PresetName() const {
  return preset.is_object() ? preset.value("name", "?") : "(command line)";
}

nlohmann::json SweepSpecJson(const SweepSpec& s) {
  nlohmann::json sections = nlohmann::json::array();
  for (const auto& sec : s.sections) sections.push_back(SectionJson(sec));
  nlohmann::json j = {{"plugins", s.plugins},       {"no_default_plugins", s.no_default_plugins},
          {"backends", s.backends},     {"preset", s.preset},
          {"sections", sections},       {"budget_s", s.budget_s},
          {"baseline", s.baseline},     {"sample_rows", s.sample_rows},
          {"data_seed", s.data_seed},   {"cache", s.cache},
          {"sgemm_size", s.sgemm_size}, {"peers", s.peers},
          {"benchmark_args", s.benchmark_args}};
  // Only a shard records it, so an unsharded run's sweep.json is what it always was.
  if (s.shard_count > 1) j["shard"] = {{"index", s.shard_index}, {"count", s.shard_count}};
  return j;
}

SweepSpec SweepSpecFromJson(const nlohmann::json& j) {
  SweepSpec s;
  try {
    s.plugins = j.at("plugins").get<std::vector<std::string>>();
    s.no_default_plugins = j.at("no_default_plugins").get<bool>();
    s.backends = j.at("backends").get<std::string>();
    s.preset = j.at("preset");
    for (const auto& sec : j.at("sections")) s.sections.push_back(SectionFromJson(sec));
    s.budget_s = j.at("budget_s").get<double>();
    s.baseline = j.at("baseline").get<std::string>();
    s.sample_rows = j.at("sample_rows").get<int>();
    s.data_seed = j.at("data_seed").get<uint64_t>();
    s.cache = j.at("cache").get<std::string>();
    s.sgemm_size = j.at("sgemm_size").get<int>();
    s.peers = j.at("peers").get<std::string>();
    s.benchmark_args = j.at("benchmark_args").get<std::vector<std::string>>();
    if (j.contains("shard")) {
      s.shard_index = j.at("shard").at("index").get<int>();
      s.shard_count = j.at("shard").at("count").get<int>();
      if (s.shard_count < 1 || s.shard_index < 0 || s.shard_index >= s.shard_count)
        throw InputError("sweep spec: shard " + std::to_string(s.shard_index) + "/" + std::to_string(s.shard_count) +
                         " is not i/N with 0 <= i < N");
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("sweep spec: ") + e.what());
  }
  return s;
}

nlohmann::json SweepRecordJson(const SweepRecord& r) {
  nlohmann::json j = {{"format", kFormat},
          {"note", "written by `attnbench bench` when the run starts; `attnbench bench --resume DIR` re-derives "
                   "the sweep from it"},
          {"started", r.started},
          {"cores", r.cores},
          {"spec", SweepSpecJson(r.spec)},
          {"cells", r.cells}};
  if (!r.sweep_cells.empty()) j["sweep_cells"] = r.sweep_cells;
  return j;
}

SweepRecord ReadSweepRecord(const std::string& dir) {
  const fs::path file = fs::path(dir) / "sweep.json";
  if (!fs::is_regular_file(file))
    throw InputError("--resume: no resumable run in '" + dir +
                     "' (no sweep.json: not a bench output directory, or written by a version without --resume)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ReadWholeFile(file.string()));
  } catch (const std::exception& e) {
    throw InputError("--resume: " + file.string() + " is not valid JSON (" + e.what() + "); cannot resume");
  }
  if (!j.is_object() || j.value("format", "") != kFormat || !j.contains("spec") || !j.contains("cells"))
    throw InputError("--resume: " + file.string() + " is not an attnbench sweep record (format " + kFormat + ")");
  SweepRecord r;
  try {
    r.started = j.value("started", "");
    r.cores = j.value("cores", 0);
    r.cells = j.at("cells").get<std::vector<std::string>>();
    if (j.contains("sweep_cells")) r.sweep_cells = j.at("sweep_cells").get<std::vector<std::string>>();
    r.spec = SweepSpecFromJson(j.at("spec"));
  } catch (const std::exception& e) {
    throw InputError("--resume: " + file.string() + ": " + e.what());
  }
  return r;
}

std::vector<std::string> SpecDifferences(const SweepSpec& recorded, const SweepSpec& now) {
  std::vector<std::string> out;
  Diff("", SweepSpecJson(recorded), SweepSpecJson(now), out);
  return out;
}

SweepSpec UnshardedSpec(SweepSpec s) {
  s.shard_index = 0;
  s.shard_count = 1;
  return s;
}

}  // namespace attnbench::bench
