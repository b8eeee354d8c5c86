// env.json: everything needed to interpret (and distrust) the numbers: CPU, cores, ISA flags,
// each backend's runtime info (Highway target, BLAS kernel), its plugin's file and build flags,
// the BLAS library / version / kernel / threads, compiler and flags, the project's git commit,
// thread settings, the date.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../plugin_loader.h"

namespace attnbench::bench {

// One plugin as env.json's "plugins" records it: {"file", "build" (DescribeBuild), "compiler",
// "build_type", "flags" (when known), "optimised" (null when unknown), "warning" ("" or
// UnoptimisedWarning)}.
nlohmann::json PluginJson(const LoadedBackend& b);

nlohmann::json CollectEnv(const std::vector<const LoadedBackend*>& backends);

// "2025-01-31T12:00:00Z" and "2025-01-31"
std::string UtcTimestamp();
std::string LocalDate();
std::string HostName();

// Bytes of the last-level cache of cpu0 (sysfs), 0 when unknown.
size_t LastLevelCacheBytes();

}  // namespace attnbench::bench
