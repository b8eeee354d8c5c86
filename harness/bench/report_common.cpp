#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "report.h"

namespace attnbench::bench {

std::unique_ptr<Reporter> MakeCsvReporter();
std::unique_ptr<Reporter> MakeJsonReporter();
std::unique_ptr<Reporter> MakeEnvReporter();
std::unique_ptr<Reporter> MakeMarkdownReporter();

std::unique_ptr<Reporter> MakeReporter(const std::string& format) {
  if (format == "csv") return MakeCsvReporter();
  if (format == "json") return MakeJsonReporter();
  if (format == "env") return MakeEnvReporter();
  if (format == "markdown") return MakeMarkdownReporter();
  throw std::invalid_argument("unknown report format '" + format + "' (known: csv, json, env, markdown)");
}

std::vector<std::string> ReporterFormats() { return {"env", "json", "csv", "markdown"}; }

std::string FormatSeconds(double s) {
  char buf[32];
  if (s >= 1.0)
    std::snprintf(buf, sizeof buf, "%.3g s", s);
  else if (s >= 1e-3)
    std::snprintf(buf, sizeof buf, "%.3g ms", s * 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.3g us", s * 1e6);
  return buf;
}

std::string FormatBytes(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30))
    std::snprintf(buf, sizeof buf, "%.3g GiB", b / double(1ull << 30));
  else if (b >= (1ull << 20))
    std::snprintf(buf, sizeof buf, "%.3g MiB", b / double(1ull << 20));
  else if (b >= 1024)
    std::snprintf(buf, sizeof buf, "%.3g KiB", b / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

std::vector<std::string> SplitSections(const std::string& joined) {
  std::vector<std::string> out;
  std::stringstream ss(joined);
  std::string s;
  while (std::getline(ss, s, ';'))
    if (!s.empty()) out.push_back(s);
  return out;
}

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

}  // namespace attnbench::bench
