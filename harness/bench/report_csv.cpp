// summary.csv: one row per backend x config with every metric and the validation result
// (RFC 4180 quoting; numbers in shortest round-trip form). The columns are one table below, used
// both to write and to read, so the two cannot drift apart.
#include <functional>
#include <sstream>
#include <stdexcept>

#include "../problem_keys.h"
#include "report.h"

namespace attnbench::bench {

namespace {

struct Column {
  const char* name;
  std::function<std::string(const Cell&)> get;
  std::function<void(Cell&, const std::string&)> set;
};

// A list of numbers in one field: "0.0061;0.0059", shortest round-trip form each.
std::string JoinNumbers(const std::vector<double>& v) {
  std::string s;
  for (double x : v) s += (s.empty() ? "" : ";") + CsvNumber(x);
  return s;
}
std::vector<double> SplitNumbers(const std::string& s) {
  std::vector<double> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ';'))
    if (!item.empty()) v.push_back(CsvDouble(item));
  return v;
}

#define STR_COL(field) \
  Column { #field, [](const Cell& c) { return c.field; }, [](Cell& c, const std::string& v) { c.field = v; } }
#define DBL_COL(field) \
  Column { #field, [](const Cell& c) { return CsvNumber(c.field); }, [](Cell& c, const std::string& v) { c.field = CsvDouble(v); } }
#define INT_COL(field) \
  Column { #field, [](const Cell& c) { return std::to_string(c.field); }, \
           [](Cell& c, const std::string& v) { c.field = static_cast<decltype(c.field)>(CsvInt(v)); } }

// section, backend, the problem columns of problem_keys.h (variant ... threads), then the results.
const std::vector<Column>& Columns() {
  static const std::vector<Column> cols = [] {
    std::vector<Column> v = {
      Column{"section", [](const Cell& c) { return c.section; }, [](Cell& c, const std::string& v) { c.section = v; }},
      STR_COL(backend)};
    for (const ProblemKey* k : KeysByRank(&ProblemKey::column_rank))
      v.push_back(Column{k->column, [k](const Cell& c) { return k->csv_get(c.config); },
                         [k](Cell& c, const std::string& s) { k->csv_set(c.config, s); }});
    v.insert(v.end(), {
      STR_COL(name),
      STR_COL(status),
      STR_COL(reason),
      DBL_COL(median_s),
      DBL_COL(mean_s),
      DBL_COL(stddev_s),
      DBL_COL(cv),
      DBL_COL(min_s),
      INT_COL(repetitions),
      INT_COL(iterations),
      DBL_COL(flops),
      DBL_COL(gflops),
      DBL_COL(peak_gflops),
      DBL_COL(pct_peak),
      DBL_COL(sgemm_gflops),
      DBL_COL(bandwidth_gbs),
      DBL_COL(min_bytes),
      DBL_COL(score_bytes),
      DBL_COL(intensity),
      STR_COL(baseline),
      DBL_COL(speedup),
      INT_COL(workspace_bytes),
      INT_COL(measured_bytes),
      STR_COL(memory_flag),
      INT_COL(rotation),
      DBL_COL(predicted_s),
      DBL_COL(max_abs_err),
      DBL_COL(rel_l2_err),
      DBL_COL(tol_rel_l2),
      DBL_COL(achieved_gbs),
      DBL_COL(pct_bandwidth),
      // Last: the columns before keep their positions for scripts that read them by number.
      Column{"repetition_s", [](const Cell& c) { return JoinNumbers(c.repetition_s); },
             [](Cell& c, const std::string& v) { c.repetition_s = SplitNumbers(v); }},
      STR_COL(round_group)});
    return v;
  }();
  return cols;
}

std::string Quote(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

// Splits the whole text into records of fields (quoted fields may hold commas and newlines).
std::vector<std::vector<std::string>> ParseRecords(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (quoted) {
      if (ch == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += ch;
      }
      continue;
    }
    if (ch == '"') {
      quoted = true;
      any = true;
    } else if (ch == ',') {
      row.push_back(std::move(field));
      field.clear();
      any = true;
    } else if (ch == '\n') {
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      any = false;
    } else if (ch != '\r') {
      field += ch;
      any = true;
    }
  }
  if (quoted) throw std::runtime_error("summary.csv: unterminated quoted field");
  if (any) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

class CsvReporter : public Reporter {
 public:
  std::string FileName() const override { return "summary.csv"; }
  std::string Render(const BenchRun& run) const override {
    std::ostringstream os;
    const auto& cols = Columns();
    for (size_t i = 0; i < cols.size(); ++i) os << (i ? "," : "") << cols[i].name;
    os << "\n";
    for (const Cell& c : run.cells) {
      for (size_t i = 0; i < cols.size(); ++i) os << (i ? "," : "") << Quote(cols[i].get(c));
      os << "\n";
    }
    return os.str();
  }
};

}  // namespace

std::unique_ptr<Reporter> MakeCsvReporter() { return std::make_unique<CsvReporter>(); }

std::vector<std::string> SummaryCsvColumns() {
  std::vector<std::string> out;
  for (const auto& c : Columns()) out.push_back(c.name);
  return out;
}

nlohmann::json CellToJson(const Cell& c) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& col : Columns()) j[col.name] = col.get(c);
  return j;
}

Cell CellFromJson(const nlohmann::json& j) {
  Cell c;
  for (const auto& col : Columns())
    if (j.contains(col.name) && j[col.name].is_string()) col.set(c, j[col.name].get<std::string>());
  return c;
}

std::vector<Cell> ParseSummaryCsv(const std::string& text) {
  const auto records = ParseRecords(text);
  if (records.empty()) throw std::runtime_error("summary.csv: empty");
  const auto& header = records[0];
  const auto& cols = Columns();
  std::vector<const Column*> by_index;
  for (const auto& h : header) {
    const Column* found = nullptr;
    for (const auto& c : cols)
      if (h == c.name) found = &c;
    by_index.push_back(found);  // unknown columns (a newer writer) are ignored
  }
  std::vector<Cell> cells;
  for (size_t r = 1; r < records.size(); ++r) {
    if (records[r].size() != header.size())
      throw std::runtime_error("summary.csv: row " + std::to_string(r + 1) + " has " +
                               std::to_string(records[r].size()) + " fields, the header " +
                               std::to_string(header.size()));
    Cell c;
    for (size_t i = 0; i < header.size(); ++i)
      if (by_index[i]) {
        try {
          by_index[i]->set(c, records[r][i]);
        } catch (const std::exception& e) {
          throw std::runtime_error("summary.csv: row " + std::to_string(r + 1) + " column " + header[i] + ": " + e.what());
        }
      }
    cells.push_back(std::move(c));
  }
  return cells;
}

}  // namespace attnbench::bench
