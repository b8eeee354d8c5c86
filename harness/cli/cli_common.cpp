#include "cli_common.h"

#include <cstdlib>
#include <iostream>
#include <sstream>

#include "../sysinfo.h"

namespace attnbench::cli {

void AddPluginFlags(CLI::App* app, PluginFlags& f) {
  app->add_option("--plugin", f.plugins,
                  "Also load this backend plugin (.so); repeatable. $ATTNBENCH_PLUGIN_PATH (':' list of "
                  "files or directories) is searched too")
      ->type_name("PATH");
  app->add_flag("--no-default-plugins", f.no_default,
                "Do not load the plugins installed beside the binary (bin/plugins)");
}

void LoadPlugins(const PluginFlags& f, PluginRegistry& reg) {
  if (!f.no_default) reg.LoadDirectory(DefaultPluginDir());
  if (const char* env = std::getenv("ATTNBENCH_PLUGIN_PATH")) reg.LoadSearchPath(env);
  const size_t searched_errors = reg.errors().size();
  for (const auto& p : f.plugins) reg.LoadFile(p);
  for (size_t i = 0; i < reg.errors().size(); ++i) {
    if (i >= searched_errors) throw InputError("--plugin refused: " + reg.errors()[i]);
    std::cerr << "attnbench: plugin refused: " << reg.errors()[i] << "\n";
  }
}

std::vector<const LoadedBackend*> SelectBackends(const PluginRegistry& reg, const std::string& list) {
  std::vector<const LoadedBackend*> out;
  if (list.empty()) {
    for (const auto& b : reg.backends()) out.push_back(&b);
  } else {
    std::stringstream ss(list);
    std::string name;
    while (std::getline(ss, name, ',')) {
      const LoadedBackend* b = reg.Find(name);
      if (!b) {
        std::string known;
        for (const auto& k : reg.backends()) known += (known.empty() ? "" : ", ") + k.name;
        throw InputError("--backends: unknown backend '" + name + "' (loaded: " +
                         (known.empty() ? "none" : known) + ")");
      }
      for (const auto* o : out)
        if (o == b) throw InputError("--backends: duplicate backend '" + name + "'");
      out.push_back(b);
    }
  }
  if (out.empty()) throw InputError("no backends loaded (see `attnbench list`)");
  return out;
}

void AddGridFlags(CLI::App* app, GridSpec& s) {
  auto* g = "Problem (comma lists make a cartesian grid)";
  app->add_option("--variant", s.variants, "simplified, self, causal, mha")->capture_default_str()->group(g);
  app->add_option("--batch", s.batch, "Batch sizes B")->capture_default_str()->group(g);
  app->add_option("--seq-len", s.seq_len, "Sequence lengths T")->capture_default_str()->group(g);
  app->add_option("--heads", s.heads, "Head counts H (must divide d-out)")->capture_default_str()->group(g);
  app->add_option("--d-in", s.d_in, "Input widths")->capture_default_str()->group(g);
  app->add_option("--d-out", s.d_out, "Output widths (simplified: always d-in)")->capture_default_str()->group(g);
  app->add_flag_callback("--causal", [&s] { s.causal = "on"; }, "Force the causal mask on (default: the variant's)")->group(g);
  app->add_flag_callback("--no-causal", [&s] { s.causal = "off"; }, "Force the causal mask off")->group(g);
  app->add_option("--dropout", s.dropout, "Dropout probabilities in [0, 1)")->capture_default_str()->group(g);
  app->add_option("--seed", s.seed, "Dropout seed")->capture_default_str()->group(g);
  app->add_option("--qkv-bias", s.qkv_bias, "0 and/or 1: bias on the Q/K/V projections")->capture_default_str()->group(g);
  s.threads = CpuCount();
  app->add_option("--threads", s.threads, "Threads for OpenMP and the BLAS (default: all cores)")
      ->capture_default_str();
}

}  // namespace attnbench::cli
