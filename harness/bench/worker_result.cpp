#include "worker_result.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "report.h"

namespace attnbench::bench {

namespace {

// A cell's Google Benchmark entries are named "<cell>/real_time" (+ "_mean", "_median", ...).
bool NamedAfter(const nlohmann::json& entry, const std::string& cell_name) {
  for (const char* key : {"name", "run_name"}) {
    const auto it = entry.find(key);
    if (it == entry.end()) continue;
    if (!it->is_string()) return false;
    const std::string& n = it->get_ref<const std::string&>();
    if (n.compare(0, cell_name.size(), cell_name) != 0) return false;
    if (n.size() > cell_name.size() && n[cell_name.size()] != '/') return false;
  }
  return entry.contains("name");
}

}  // namespace

bool DecodeWorkerResult(const nlohmann::json& body, const std::string& cell_name, WorkerResult* out,
                        std::string* error) {
  auto fail = [&](const std::string& why) {
    *error = why;
    return false;
  };
  if (!body.is_object()) return fail("not an object");
  const auto cell = body.find("cell");
  if (cell == body.end() || !cell->is_object()) return fail("\"cell\" is not an object");
  try {
    out->cell = CellFromJson(*cell);
  } catch (const std::exception& e) {
    return fail(std::string("\"cell\": ") + e.what());
  }
  static const char* kWorkerStatuses[] = {"PASS", "MISTRUSTED", "FAIL", "UNSUPPORTED", "SKIPPED", "ERROR"};
  if (std::find(std::begin(kWorkerStatuses), std::end(kWorkerStatuses), out->cell.status) == std::end(kWorkerStatuses))
    return fail("status '" + out->cell.status.substr(0, 32) + "' is not one a worker gives");
  // (validate's PASS rows are not timed: no median, 0.)
  for (double v : {out->cell.median_s, out->cell.mean_s, out->cell.min_s, out->cell.stddev_s})
    if (!(std::isfinite(v) && v >= 0)) return fail("a time that is not a finite number >= 0");
  out->check = body.value("check", nlohmann::json());
  if (!out->check.is_null() && !out->check.is_object()) return fail("\"check\" is not an object");
  const auto entries = body.find("benchmarks");
  if (entries != body.end()) {
    if (!entries->is_array()) return fail("\"benchmarks\" is not an array");
    for (const auto& j : *entries)
      if (!j.is_object() || !NamedAfter(j, cell_name)) return fail("a Google Benchmark entry not named after this cell");
    out->benchmarks = *entries;
  }
  out->context = body.value("context", nlohmann::json());
  if (!out->context.is_null() && !out->context.is_object()) return fail("\"context\" is not an object");
  return true;
}

}  // namespace attnbench::bench
