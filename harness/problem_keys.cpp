#include "problem_keys.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace attnbench {

std::string CsvNumber(double v) {
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, p) : "nan";
}

double CsvDouble(const std::string& s) {
  if (s.empty()) return 0.0;
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) throw std::runtime_error("not a number: '" + s + "'");
  return v;
}

int64_t CsvInt(const std::string& s) {
  if (s.empty()) return 0;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) throw std::runtime_error("not an integer: '" + s + "'");
  return v;
}

namespace {

// Accessors of one integer field of ab_problem, for the table's function pointers.
template <auto F>
std::string IntText(const Config& c) {
  return std::to_string(c.problem.*F);
}
template <auto F>
void SetInt(Config& c, const std::string& v) {
  c.problem.*F = static_cast<std::remove_reference_t<decltype(c.problem.*F)>>(CsvInt(v));
}
template <auto F>
nlohmann::json IntJson(const Config& c) {
  return c.problem.*F;
}
template <auto F>
nlohmann::json BoolJson(const Config& c) {
  return c.problem.*F != 0;
}

// Sets heads and, unless a kv_heads column was read already, kv_heads = heads: a summary.csv
// written before kv_heads existed is multi-head attention.
void SetHeads(Config& c, const std::string& v) {
  const int32_t before = c.problem.heads;
  c.problem.heads = static_cast<int32_t>(CsvInt(v));
  if (c.problem.kv_heads == 0 || c.problem.kv_heads == before) c.problem.kv_heads = c.problem.heads;
}

// The preset / validate table: a key's name, help texts, defaults and records.
std::vector<ProblemKey> MakeTable() {
  using K = KeyForm;
  return {
      {.name = "variant", .form = K::kList, .help = "simplified, self, causal, mha",
       .text = &GridSpec::variants, .bench_default = "mha", .preset_alias = "variants",
       .column = "variant", .json = "variant", .field = "variant",
       .csv_get = [](const Config& c) { return std::string(VariantName(c.variant)); },
       .csv_set =
           [](Config& c, const std::string& v) {
             auto var = ParseVariant(v);
             if (!var) throw std::runtime_error("unknown variant '" + v + "'");
             c.variant = *var;
           },
       .json_value = [](const Config& c) { return nlohmann::json(VariantName(c.variant)); },
       .name_part = [](const Config& c) { return "/" + std::string(VariantName(c.variant)); },
       .repro_part = [](const Config& c) { return " --variant " + std::string(VariantName(c.variant)); },
       .name_rank = 0, .column_rank = 0, .preset_rank = 0},
      {.name = "batch", .form = K::kList, .help = "Batch sizes B", .text = &GridSpec::batch, .bench_default = "1",
       .column = "batch", .json = "batch", .field = "batch", .csv_get = IntText<&ab_problem::batch>,
       .csv_set = SetInt<&ab_problem::batch>, .json_value = IntJson<&ab_problem::batch>,
       .name_part = [](const Config& c) { return "/B:" + std::to_string(c.problem.batch); },
       .repro_part = [](const Config& c) { return " --batch " + std::to_string(c.problem.batch); },
       .name_rank = 1, .column_rank = 1, .preset_rank = 1},
      {.name = "seq-len", .form = K::kList, .help = "Sequence lengths T", .text = &GridSpec::seq_len,
       .bench_default = "1024", .column = "seq_len", .json = "seq_len", .field = "seq_len",
       .csv_get = IntText<&ab_problem::seq_len>, .csv_set = SetInt<&ab_problem::seq_len>,
       .json_value = IntJson<&ab_problem::seq_len>,
       .name_part = [](const Config& c) { return "/T:" + std::to_string(c.problem.seq_len); },
       .repro_part = [](const Config& c) { return " --seq-len " + std::to_string(c.problem.seq_len); },
       .name_rank = 2, .column_rank = 2, .preset_rank = 2},
      {.name = "heads", .form = K::kList, .help = "Head counts H (must divide d-out); auto = 4 for mha, 1 otherwise", .text = &GridSpec::heads,
       .bench_default = "12", .column = "heads", .json = "heads", .field = "heads",
       .csv_get = IntText<&ab_problem::heads>, .csv_set = SetHeads,
       .json_value = IntJson<&ab_problem::heads>,
       .name_part = [](const Config& c) { return "/H:" + std::to_string(c.problem.heads); },
       .repro_part = [](const Config& c) { return " --heads " + std::to_string(c.problem.heads); },
       .name_rank = 5, .column_rank = 5, .preset_rank = 3},
      // The three keys of issue 14 show in names and reproducers only away from their defaults,
      // so every name and command line of the chapter-3 problems stays as it was.
      {.name = "kv-heads", .form = K::kList,
       .help = "K/V head counts, each dividing heads (grouped-query; 1 = multi-query); heads = one per query head",
       .text = &GridSpec::kv_heads, .bench_default = "heads", .column = "kv_heads", .json = "kv_heads",
       .field = "kv_heads", .csv_get = IntText<&ab_problem::kv_heads>, .csv_set = SetInt<&ab_problem::kv_heads>,
       .json_value = IntJson<&ab_problem::kv_heads>,
       .name_part = [](const Config& c) -> std::string {
         return c.problem.kv_heads != c.problem.heads ? "/KVH:" + std::to_string(c.problem.kv_heads) : "";
       },
       .repro_part = [](const Config& c) -> std::string {
         return c.problem.kv_heads != c.problem.heads ? " --kv-heads " + std::to_string(c.problem.kv_heads) : "";
       },
       .name_rank = 10, .column_rank = 13, .preset_rank = 11, .record_default = "heads"},
      {.name = "window", .form = K::kList,
       .help = "Sliding-window widths W: query i sees keys j with i - W < j <= i (needs causal); 0 = unlimited",
       .text = &GridSpec::window, .bench_default = "0", .column = "window", .json = "window", .field = "window",
       .csv_get = IntText<&ab_problem::window>, .csv_set = SetInt<&ab_problem::window>,
       .json_value = IntJson<&ab_problem::window>,
       .name_part = [](const Config& c) -> std::string {
         return c.problem.window ? "/W:" + std::to_string(c.problem.window) : "";
       },
       .repro_part = [](const Config& c) -> std::string {
         return c.problem.window ? " --window " + std::to_string(c.problem.window) : "";
       },
       .name_rank = 11, .column_rank = 14, .preset_rank = 12, .record_default = "0"},
      {.name = "past-len", .form = K::kList,
       .help = "KV-cache lengths P: the T new tokens follow P cached keys and values (decoding: T = 1)",
       .text = &GridSpec::past_len, .bench_default = "0", .column = "past_len", .json = "past_len",
       .field = "past_len", .csv_get = IntText<&ab_problem::past_len>, .csv_set = SetInt<&ab_problem::past_len>,
       .json_value = IntJson<&ab_problem::past_len>,
       .name_part = [](const Config& c) -> std::string {
         return c.problem.past_len ? "/P:" + std::to_string(c.problem.past_len) : "";
       },
       .repro_part = [](const Config& c) -> std::string {
         return c.problem.past_len ? " --past-len " + std::to_string(c.problem.past_len) : "";
       },
       .name_rank = 12, .column_rank = 15, .preset_rank = 13, .record_default = "0"},
      {.name = "d-in", .form = K::kList, .help = "Input widths", .text = &GridSpec::d_in, .bench_default = "768",
       .column = "d_in", .json = "d_in", .field = "d_in", .csv_get = IntText<&ab_problem::d_in>,
       .csv_set = SetInt<&ab_problem::d_in>, .json_value = IntJson<&ab_problem::d_in>,
       .name_part = [](const Config& c) { return "/din:" + std::to_string(c.problem.d_in); },
       .repro_part = [](const Config& c) { return " --d-in " + std::to_string(c.problem.d_in); },
       .name_rank = 3, .column_rank = 3, .preset_rank = 4},
      // Simplified attention has no d-out of its own (= d-in): the reproducer leaves it out.
      {.name = "d-out", .form = K::kList, .help = "Output widths (simplified: always d-in)", .text = &GridSpec::d_out,
       .bench_default = "768", .column = "d_out", .json = "d_out", .field = "d_out",
       .csv_get = IntText<&ab_problem::d_out>, .csv_set = SetInt<&ab_problem::d_out>,
       .json_value = IntJson<&ab_problem::d_out>,
       .name_part = [](const Config& c) { return "/dout:" + std::to_string(c.problem.d_out); },
       .repro_part = [](const Config& c) -> std::string {
         return c.problem.qkv_proj ? " --d-out " + std::to_string(c.problem.d_out) : "";
       },
       .name_rank = 4, .column_rank = 4, .preset_rank = 5},
      // The name shows the mask only where it differs from the variant's own.
      {.name = "causal", .form = K::kSwitch, .help = "Force the causal mask on (default: the variant's)",
       .bench_help = "Force the causal mask on", .off_help = "Force the causal mask off", .text = &GridSpec::causal,
       .bench_default = "default", .column = "causal", .json = "causal", .field = "causal",
       .csv_get = IntText<&ab_problem::causal>, .csv_set = SetInt<&ab_problem::causal>,
       .json_value = BoolJson<&ab_problem::causal>,
       .name_part = [](const Config& c) -> std::string {
         const ab_problem def = MakeProblem(c.variant, 1, 1, 1, 1, 1);
         return c.problem.causal != def.causal ? "/causal:" + std::to_string(c.problem.causal) : "";
       },
       .repro_part = [](const Config& c) -> std::string { return c.problem.causal ? " --causal" : " --no-causal"; },
       .name_rank = 7, .column_rank = 8, .preset_rank = 8},
      {.name = "dropout", .form = K::kList, .help = "Dropout probabilities in [0, 1)", .text = &GridSpec::dropout,
       .bench_default = "0", .column = "dropout", .json = "dropout", .field = "dropout_p",
       .csv_get = [](const Config& c) { return CsvNumber(c.problem.dropout_p); },
       .csv_set = [](Config& c, const std::string& v) { c.problem.dropout_p = static_cast<float>(CsvDouble(v)); },
       .json_value = [](const Config& c) { return nlohmann::json(c.problem.dropout_p); },
       .name_part = [](const Config& c) -> std::string {
         if (!(c.problem.dropout_p > 0)) return "";
         char buf[32];
         std::snprintf(buf, sizeof buf, "/dropout:%g", static_cast<double>(c.problem.dropout_p));
         return buf;
       },
       .repro_part = [](const Config& c) {
         std::ostringstream os;
         os << " --dropout " << c.problem.dropout_p;
         return os.str();
       },
       .name_rank = 8, .column_rank = 11, .preset_rank = 6},
      // The dropout seed: in the reproducer and the JSON, not in names or summary.csv (a sweep
      // uses one seed).
      {.name = "seed", .form = K::kNumber, .help = "Dropout seed", .number = &GridSpec::seed, .bench_default = "1",
       .json = "seed", .field = "dropout_seed",
       .json_value = [](const Config& c) { return nlohmann::json(c.problem.dropout_seed); },
       .repro_part = [](const Config& c) { return " --seed " + std::to_string(c.problem.dropout_seed); },
       .preset_rank = 9},
      {.name = "qkv-bias", .form = K::kList, .help = "0 and/or 1: bias on the Q/K/V projections",
       .bench_help = "0 and/or 1", .text = &GridSpec::qkv_bias, .bench_default = "0", .column = "qkv_bias",
       .json = "qkv_bias", .field = "qkv_bias", .csv_get = IntText<&ab_problem::qkv_bias>,
       .csv_set = SetInt<&ab_problem::qkv_bias>, .json_value = BoolJson<&ab_problem::qkv_bias>,
       .name_part = [](const Config& c) -> std::string { return c.problem.qkv_bias ? "/bias" : ""; },
       .repro_part = [](const Config& c) -> std::string {
         return c.problem.qkv_proj ? " --qkv-bias " + std::to_string(c.problem.qkv_bias) : "";
       },
       .name_rank = 9, .column_rank = 9, .preset_rank = 7},
      // Threads: validate prints them once for the run and the manifest per config, so they are
      // not in the problem JSON.
      {.name = "threads", .form = K::kThreads, .help = "Threads for OpenMP and the BLAS (default: all cores)",
       .bench_help = "Thread counts, e.g. 1,all (all = every core)", .column = "threads",
       .csv_get = IntText<&ab_problem::threads>, .csv_set = SetInt<&ab_problem::threads>,
       .name_part = [](const Config& c) { return "/threads:" + std::to_string(c.problem.threads); },
       .repro_part = [](const Config& c) { return " --threads " + std::to_string(c.problem.threads); },
       .name_rank = 6, .column_rank = 12, .preset_rank = 10},
      // Derived from the keys (and the variant): recorded for readers, never set by the user.
      {.name = nullptr, .form = K::kDerived, .column = "head_dim", .field = "head_dim",
       .csv_get = [](const Config& c) { return std::to_string(c.problem.heads ? HeadDim(c.problem) : 0); },
       .csv_set = [](Config&, const std::string&) {},
       .json_value = [](const Config& c) { return nlohmann::json(c.problem.heads ? HeadDim(c.problem) : 0); },
       .column_rank = 6},
      {.name = nullptr, .form = K::kDerived, .column = "qkv_proj", .field = "qkv_proj",
       .csv_get = IntText<&ab_problem::qkv_proj>, .csv_set = SetInt<&ab_problem::qkv_proj>,
       .json_value = BoolJson<&ab_problem::qkv_proj>, .column_rank = 7},
      {.name = nullptr, .form = K::kDerived, .column = "out_proj", .json = "out_proj", .field = "out_proj",
       .csv_get = IntText<&ab_problem::out_proj>, .csv_set = SetInt<&ab_problem::out_proj>,
       .json_value = BoolJson<&ab_problem::out_proj>, .column_rank = 10},
  };
}

}  // namespace

const std::vector<ProblemKey>& ProblemKeys() {
  static const std::vector<ProblemKey> table = MakeTable();
  return table;
}

std::vector<const ProblemKey*> KeysByRank(int ProblemKey::*rank) {
  std::vector<const ProblemKey*> out;
  for (const ProblemKey& k : ProblemKeys())
    if (k.*rank >= 0) out.push_back(&k);
  std::stable_sort(out.begin(), out.end(), [rank](const ProblemKey* a, const ProblemKey* b) { return a->*rank < b->*rank; });
  return out;
}

const ProblemKey* FindPresetKey(const std::string& key) {
  for (const ProblemKey& k : ProblemKeys())
    if (k.name && (key == k.name || (k.preset_alias && key == k.preset_alias))) return &k;
  return nullptr;
}

std::vector<std::string> FlagsOf(const ProblemKey& k) {
  if (!k.name) return {};
  if (k.form == KeyForm::kSwitch) return {std::string("--") + k.name, std::string("--no-") + k.name};
  return {std::string("--") + k.name};
}

std::vector<std::string> GridFlagNames() {
  std::vector<std::string> out;
  for (const ProblemKey& k : ProblemKeys())
    for (auto& f : FlagsOf(k)) out.push_back(std::move(f));
  return out;
}

std::string KeyText(const ProblemKey& k, const GridSpec& s) {
  switch (k.form) {
    case KeyForm::kList:
    case KeyForm::kSwitch: return s.*k.text;
    case KeyForm::kNumber: return std::to_string(s.*k.number);
    case KeyForm::kThreads: return std::to_string(s.threads);
    case KeyForm::kDerived: break;
  }
  throw std::logic_error("KeyText: a derived column is not a key");
}

void SetKeyText(const ProblemKey& k, GridSpec& s, const std::string& text) {
  switch (k.form) {
    case KeyForm::kList:
    case KeyForm::kSwitch: s.*k.text = text; return;
    case KeyForm::kNumber: s.*k.number = std::stoull(text); return;
    case KeyForm::kThreads: s.threads = std::stoi(text); return;
    case KeyForm::kDerived: break;
  }
  throw std::logic_error("SetKeyText: a derived column is not a key");
}

// ---- the functions of grid.h that list keys ----

std::string ConfigFlags(const Config& c) {
  std::string s;
  for (const ProblemKey& k : ProblemKeys())
    if (k.repro_part) s += k.repro_part(c);
  return s.substr(1);  // every part starts with a space
}

nlohmann::json ProblemJson(const Config& c) {
  nlohmann::json j = nlohmann::json::object();
  for (const ProblemKey& k : ProblemKeys())
    if (k.json) j[k.json] = k.json_value(c);
  return j;
}

nlohmann::json ProblemFieldsJson(const Config& c) {
  nlohmann::json j = nlohmann::json::object();
  for (const ProblemKey& k : ProblemKeys())
    if (k.field) j[k.field] = k.json_value(c);
  return j;
}

nlohmann::json GridSpecJson(const GridSpec& s) {
  nlohmann::json j = nlohmann::json::object();
  for (const ProblemKey& k : ProblemKeys()) {
    if (!k.name) continue;
    if (k.form == KeyForm::kNumber) j[k.name] = s.*k.number;
    else if (k.form == KeyForm::kThreads) j[k.name] = s.threads;
    else j[k.name] = s.*k.text;
  }
  return j;
}

GridSpec GridSpecFromJson(const nlohmann::json& j) {
  if (!j.is_object()) throw InputError("grid spec: expected a JSON object, got " + j.dump());
  GridSpec s;
  size_t keys = 0;
  for (const ProblemKey& k : ProblemKeys()) {
    if (!k.name) continue;
    if (j.contains(k.name)) ++keys;  // counted only when present, for the unknown-key check below
    if (!j.contains(k.name)) {
      if (k.record_default) {
        s.*k.text = k.record_default;
        continue;
      }
      throw InputError(std::string("grid spec: missing key '") + k.name + "'");
    }
    const nlohmann::json& v = j[k.name];
    const bool number = k.form == KeyForm::kNumber || k.form == KeyForm::kThreads;
    if (number ? !v.is_number_integer() : !v.is_string())
      throw InputError(std::string("grid spec: '") + k.name + "' must be " + (number ? "an integer" : "a string") +
                       ", got " + v.dump());
    if (k.form == KeyForm::kNumber) {
      if (!v.is_number_unsigned()) throw InputError(std::string("grid spec: '") + k.name + "' must be >= 0, got " + v.dump());
      s.*k.number = v.get<uint64_t>();
    } else if (k.form == KeyForm::kThreads) {
      const int64_t t = v.get<int64_t>();
      if (t < INT32_MIN || t > INT32_MAX) throw InputError("grid spec: 'threads' out of range, got " + v.dump());
      s.threads = static_cast<int>(t);
    } else {
      s.*k.text = v.get<std::string>();
      if (k.form == KeyForm::kSwitch && s.*k.text != "default" && s.*k.text != "on" && s.*k.text != "off")
        throw InputError(std::string("grid spec: '") + k.name + "' must be default, on or off, got " + v.dump());
    }
  }
  if (j.size() != keys)
    for (const auto& [name, v] : j.items()) {
      const ProblemKey* k = FindPresetKey(name);
      if (!k || name != k->name) throw InputError("grid spec: unknown key '" + name + "'");
    }
  return s;
}

std::vector<std::string> GridSpecArgs(const GridSpec& s) {
  std::vector<std::string> a;
  for (const ProblemKey& k : ProblemKeys()) {
    if (!k.name) continue;
    const std::string flag = std::string("--") + k.name;
    if (k.form == KeyForm::kSwitch) {
      if (s.*k.text == "on") a.push_back(flag);
      if (s.*k.text == "off") a.push_back(std::string("--no-") + k.name);
      continue;
    }
    if (k.record_default && KeyText(k, s) == k.record_default) continue;
    a.insert(a.end(), {flag, KeyText(k, s)});
  }
  return a;
}

}  // namespace attnbench
