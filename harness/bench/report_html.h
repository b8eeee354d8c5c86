// The report_html stage: report.html, one self-contained file per run (scripts/report_html.py
// writes it: the machine, the peaks, the peers, the plots inlined as SVG, every cell, the
// failures). This side gives the script what only the harness knows: each failed cell's
// reproducer line and the diagnosis of what it got wrong (harness/diagnose.h).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "../plugin_loader.h"

namespace attnbench::bench {

// For every FAIL / CRASHED / TIMEOUT row of dir/summary.csv: {"name", "backend", "config",
// "status", "reason", "repro", "diagnosis"}. The data is redrawn from env.json's data seed as the
// sweep drew it; a FAIL of a backend in reg is diagnosed, others say why not (a peer, a plugin not
// loaded, a crash).
nlohmann::json FailureDetails(const std::string& dir, const PluginRegistry& reg);

// Writes dir/report.html (after the plots: it inlines dir/plots/*.svg); returns the script's exit
// status.
int WriteReportHtml(const std::string& dir, const PluginRegistry& reg);

}  // namespace attnbench::bench
