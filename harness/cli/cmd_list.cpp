// attnbench list: every loaded backend, what it is, its ABI version, where it came from and how
// it was built (a warning when without optimisation); the BLAS and the CPU.
#include <iostream>

#include "../sysinfo.h"
#include "cli_common.h"
#include "commands.h"

namespace attnbench::cli {

namespace {
struct ListOptions {
  PluginFlags plugins;
};
}  // namespace

void AddListCommand(CLI::App& app, int& rc) {
  static ListOptions o;
  CLI::App* sub = app.add_subcommand("list", "List the loaded backends, their descriptions and files");
  AddPluginFlags(sub, o.plugins);
  sub->callback([&rc] {
    PluginRegistry reg;
    LoadPlugins(o.plugins, reg);
    const BlasInfo blas = GetBlasInfo();
    std::cout << "CPU:  " << CpuModel() << " (" << CpuCount() << " threads; " << CpuSimdFlags() << ")\n";
    std::cout << "BLAS: " << blas.library << " " << blas.version << ", kernel " << blas.kernel << ", "
              << blas.threads << " threads"
              << (blas.coretype_env.empty() ? "" : ", OPENBLAS_CORETYPE=" + blas.coretype_env) << "\n";
    if (auto w = BlasKernelWarning(blas); !w.empty()) std::cerr << w << "\n";
    std::cout << "\n" << reg.backends().size() << " backend(s):\n";
    for (const auto& b : reg.backends()) {
      // The ABI version: a version-1 plugin cannot be given grouped-query heads, windows or a cache.
      std::cout << "  " << b.name << "  (ABI version " << b.table->api_version << ")\n      " << b.description
                << "\n      file: " << b.path << "\n";
      if (!b.runtime_info.empty()) std::cout << "      runs: " << b.runtime_info << "\n";
      std::cout << "      built: " << DescribeBuild(b.build) << "\n";
      // On stdout beside its backend: a slow plugin's list entry is where one looks first.
      if (const std::string w = UnoptimisedWarning(b); !w.empty()) std::cout << "      WARNING: " << w << "\n";
    }
    rc = kExitOk;
  });
}

}  // namespace attnbench::cli
