#include "cli_common.h"

#include <cerrno>
#include <cstdlib>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "../problem_keys.h"
#include "../sysinfo.h"

namespace attnbench::cli {

void AddPluginFlags(CLI::App* app, PluginFlags& f) {
  app->add_option("--plugin", f.plugins,
                  "Also load this backend plugin (.so); repeatable. NAME=PATH loads it under another name "
                  "(e.g. fused-old=old/libattnbench-fused.so beside today's fused). $ATTNBENCH_PLUGIN_PATH "
                  "(':' list of files or directories) is searched too")
      ->type_name("PATH");
  app->add_flag("--no-default-plugins", f.no_default,
                "Do not load the plugins installed beside the binary (bin/plugins)");
}

PluginArg ParsePluginArg(const std::string& arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos) return {arg, ""};
  const std::string name = arg.substr(0, eq);
  // A '/' before the '=' means a path that contains '=' (./a=b/x.so), not a name.
  if (name.find('/') != std::string::npos) return {arg, ""};
  if (!IsValidBackendName(name))
    throw InputError("--plugin " + arg + ": '" + name + "' is not a backend name (1-64 characters of [a-z0-9-])");
  if (eq + 1 == arg.size()) throw InputError("--plugin " + arg + ": no file after '='");
  return {arg.substr(eq + 1), name};
}

CLI::Validator SeedValidator() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        const bool digits = !v.empty() && v.size() <= 20 && v.find_first_not_of("0123456789") == std::string::npos;
        errno = 0;
        if (digits) std::strtoull(v.c_str(), nullptr, 10);
        if (!digits || errno == ERANGE) return "'" + v + "' is not an integer in [0, 18446744073709551615]";
        return {};
      },
      "SEED");
}

void LoadPlugins(const PluginFlags& f, PluginRegistry& reg) {
  if (!f.no_default) reg.LoadDirectory(DefaultPluginDir());
  if (const char* env = std::getenv("ATTNBENCH_PLUGIN_PATH")) reg.LoadSearchPath(env);
  const size_t searched_errors = reg.errors().size();
  for (const auto& p : f.plugins) {
    const PluginArg a = ParsePluginArg(p);
    reg.LoadFile(a.path, a.as);
  }
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

void AddProblemKeyFlags(CLI::App* app, GridSpec& s, const ProblemFlagStyle& style) {
  const bool bench = style.threads_list != nullptr;
  for (const ProblemKey& k : ProblemKeys()) {
    if (k.form == KeyForm::kDerived) continue;
    const std::string flag = std::string("--") + k.name;
    const char* help = bench && k.bench_help ? k.bench_help : k.help;
    CLI::Option* opt = nullptr;
    switch (k.form) {
      case KeyForm::kList:
        opt = app->add_option(flag, s.*k.text, help);
        break;
      case KeyForm::kSwitch:
        app->add_flag_callback(flag, [&s, &k] { s.*k.text = "on"; }, help)->group(style.group);
        app->add_flag_callback(std::string("--no-") + k.name, [&s, &k] { s.*k.text = "off"; }, k.off_help)
            ->group(style.group);
        continue;
      case KeyForm::kNumber:
        opt = app->add_option(flag, s.*k.number, help)->check(SeedValidator());
        break;
      case KeyForm::kThreads:
        if (bench) {
          app->add_option(flag, *style.threads_list, help)->group(style.group);
        } else {
          // One count, a setting of the run more than a grid axis: listed with the other options.
          s.threads = CpuCount();
          app->add_option(flag, s.threads, help)->capture_default_str();
        }
        continue;
      case KeyForm::kDerived:
        continue;
    }
    if (!bench) opt->capture_default_str();
    opt->group(style.group);
  }
}

void AddGridFlags(CLI::App* app, GridSpec& s) {
  AddProblemKeyFlags(app, s, {"Problem (comma lists make a cartesian grid)"});
}

}  // namespace attnbench::cli
