#include "preset.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "../problem_keys.h"

namespace attnbench::bench {

namespace fs = std::filesystem;

namespace {

std::string Trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// Sets one key; false when the key is unknown.
bool SetKey(Section& s, const std::string& key, const std::string& value) {
  const ProblemKey* k = FindPresetKey(key);
  if (!k) return false;
  if (k->form == KeyForm::kThreads) {
    s.threads = value;  // a list of counts here ("1,all"), expanded by ExpandSection
    return true;
  }
  // A number key (the seed) takes what --seed takes: stoull would wrap "-1" and read "1e23" as 1.
  if (k->form == KeyForm::kNumber && (value.size() > 20 || value.find_first_not_of("0123456789") != std::string::npos))
    throw InputError("not an integer in [0, 18446744073709551615]");
  SetKeyText(*k, s.grid, value);
  return true;
}

std::string KnownKeys() {
  std::string out;
  for (const ProblemKey* k : KeysByRank(&ProblemKey::preset_rank)) out += (out.empty() ? "" : " ") + std::string(k->name);
  return out;
}

}  // namespace

GridSpec BenchDefaults() {
  GridSpec g;
  for (const ProblemKey& k : ProblemKeys())
    if (k.bench_default) SetKeyText(k, g, k.bench_default);
  return g;
}

std::vector<Section> ParsePreset(const std::string& text, const std::string& origin) {
  std::vector<Section> out;
  std::set<std::string> names;
  std::set<std::string> keys;  // of the current section: a key given twice is a mistake, not "the last wins"
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  auto fail = [&](const std::string& why) {
    throw InputError(origin + ":" + std::to_string(lineno) + ": " + why);
  };
  while (std::getline(in, line)) {
    ++lineno;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    line = Trim(line);
    if (line.empty()) continue;
    if (line.front() == '[') {
      if (line.back() != ']') fail("section header must look like [name]");
      Section s;
      s.name = Trim(line.substr(1, line.size() - 2));
      if (s.name.empty() || s.name.find_first_of(" ,\t") != std::string::npos)
        fail("section name must be one word, got '" + s.name + "'");
      if (!names.insert(s.name).second) fail("duplicate section [" + s.name + "]");
      keys.clear();
      s.grid = BenchDefaults();
      out.push_back(std::move(s));
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos) fail("expected 'key = value', got '" + line + "'");
    const std::string key = Trim(line.substr(0, eq)), value = Trim(line.substr(eq + 1));
    if (out.empty()) fail("'" + key + "' before the first [section]");
    if (value.empty()) fail("empty value for '" + key + "'");
    if (!keys.insert(key).second) fail("'" + key + "' given twice in [" + out.back().name + "]");
    bool known = false;
    try {
      known = SetKey(out.back(), key, value);
    } catch (const std::exception&) {
      fail("bad value '" + value + "' for '" + key + "'");
    }
    if (!known)
      fail("unknown key '" + key + "' (known: " + KnownKeys() + ")");
  }
  if (out.empty()) throw InputError(origin + ": no [section] in preset");
  return out;
}

std::vector<std::string> KnownPresets(const std::vector<std::string>& search_dirs) {
  std::set<std::string> names;
  for (const auto& d : search_dirs) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(d, ec))
      if (e.path().extension() == ".preset") names.insert(e.path().stem().string());
  }
  return {names.begin(), names.end()};
}

std::string ResolvePresetFile(const std::string& name, const std::vector<std::string>& search_dirs) {
  fs::path file;
  if (name.find('/') != std::string::npos || fs::is_regular_file(name)) {
    file = name;
  } else {
    for (const auto& d : search_dirs)
      if (fs::is_regular_file(fs::path(d) / (name + ".preset"))) {
        file = fs::path(d) / (name + ".preset");
        break;
      }
  }
  if (file.empty() || !fs::is_regular_file(file)) {
    std::string known;
    for (const auto& k : KnownPresets(search_dirs)) known += (known.empty() ? "" : ", ") + k;
    throw InputError("--preset: no preset or file '" + name + "' (known presets: " +
                     (known.empty() ? "none found" : known) + ")");
  }
  return file.string();
}

std::vector<Section> LoadPreset(const std::string& name, const std::vector<std::string>& search_dirs) {
  const std::string file = ResolvePresetFile(name, search_dirs);
  std::ifstream f(file);  // read here, not through atomic_file.h: the preset fuzzer links this file alone
  std::stringstream ss;
  ss << f.rdbuf();
  return ParsePreset(ss.str(), file);
}

std::vector<int> ParseThreads(const std::string& text, int cores) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = Trim(item);
    int n = 0;
    if (item == "all") {
      n = cores;
    } else {
      try {
        size_t used = 0;
        n = std::stoi(item, &used);
        if (used != item.size()) n = 0;
      } catch (const std::exception&) {
        n = 0;
      }
      if (n < 1 || n > 4096) throw InputError("threads: '" + item + "' is not 'all' or an integer in [1, 4096]");
    }
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  if (out.empty()) throw InputError("threads: empty list '" + text + "'");
  return out;
}

std::vector<Config> ExpandSection(const Section& s, int cores, std::vector<SkippedConfig>* skipped) {
  std::vector<Config> out;
  for (int t : ParseThreads(s.threads, cores)) {
    GridSpec g = s.grid;
    g.threads = t;
    std::vector<Config> part;
    try {
      part = ExpandGrid(g, skipped);
    } catch (const InputError& e) {
      throw InputError("[" + s.name + "] " + e.what());
    }
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

}  // namespace attnbench::bench
