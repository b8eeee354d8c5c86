// The output formats of a bench run, one class each behind one interface (like Google
// Benchmark's reporters); MakeReporter picks one by name. Each renders the whole BenchRun to a
// string; the caller writes it with WriteFileAtomic.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "result.h"

namespace attnbench::bench {

class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual std::string FileName() const = 0;  // "summary.csv", ...
  virtual std::string Render(const BenchRun& run) const = 0;
};

// "csv" (summary.csv), "json" (bench.json: Google Benchmark's own JSON), "env" (env.json),
// "markdown" (report.md). Throws std::invalid_argument for another name.
std::unique_ptr<Reporter> MakeReporter(const std::string& format);
// Every format above, in the order the bench writes them.
std::vector<std::string> ReporterFormats();

// summary.csv back into cells (compare, tests). Throws std::runtime_error on malformed input.
std::vector<Cell> ParseSummaryCsv(const std::string& text);
// One cell as a JSON object of the summary.csv columns (string values, numbers in shortest
// round-trip form) and back: how a `bench --isolate` worker hands its cells to the parent.
nlohmann::json CellToJson(const Cell& c);
Cell CellFromJson(const nlohmann::json& j);
// The CSV header (column names), for documentation and tests.
std::vector<std::string> SummaryCsvColumns();

// Shared helpers for the renderers.
std::string FormatSeconds(double s);  // "12.3 ms", "1.20 s", "85.1 us"
std::string FormatBytes(uint64_t b); // "1.5 MiB"
// "seq-sweep;heads-sweep" sections of a cell are stored joined by ';'.
std::vector<std::string> SplitSections(const std::string& joined);
// "a, b, c": the parts with sep between them (an empty part still counts).
std::string Join(const std::vector<std::string>& parts, const char* sep);

}  // namespace attnbench::bench
