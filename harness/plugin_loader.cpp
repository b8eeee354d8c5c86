#include "plugin_loader.h"

#include <dlfcn.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

namespace attnbench {

namespace fs = std::filesystem;

PluginRegistry::~PluginRegistry() = default;

bool PluginRegistry::LoadFile(const std::string& path, const std::string& as) {
  auto refuse = [&](const std::string& why) {
    errors_.push_back(path + ": " + why);
    return false;
  };
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return refuse("not a file");
  // RTLD_LOCAL: two plugins may use the same internal symbol names without clashing.
  void* handle = dlopen(fs::absolute(path).c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* e = dlerror();
    return refuse(std::string("not a loadable library (") + (e ? e : "dlopen failed") + ")");
  }
  dlerror();
  auto entry = reinterpret_cast<ab_backend_entry_fn>(dlsym(handle, AB_ENTRY_SYMBOL));
  if (!entry) {
    dlclose(handle);
    return refuse(std::string("no entry point ") + AB_ENTRY_SYMBOL + "() (not an attnbench plugin?)");
  }
  const ab_backend_i* t = entry();
  if (!t) {
    dlclose(handle);
    return refuse(std::string(AB_ENTRY_SYMBOL) + "() returned NULL");
  }
  if (t->api_version != AB_ABI_VERSION) {
    std::ostringstream os;
    os << "ABI version " << t->api_version << ", this attnbench needs " << AB_ABI_VERSION
       << " (rebuild the plugin against these headers)";
    dlclose(handle);
    return refuse(os.str());
  }
  if (!t->name || !*t->name || !t->supports || !t->prepare || !t->run || !t->workspace_bytes ||
      !t->destroy) {
    dlclose(handle);
    return refuse("incomplete backend table (a name and every function but runtime_info are required)");
  }
  const std::string name = as.empty() ? std::string(t->name) : as;
  if (const LoadedBackend* other = Find(name)) {
    // Do not dlclose: the first plugin with this name may share the handle (same file twice).
    return refuse("duplicate backend name '" + name + "' (already loaded from " + other->path + ")");
  }
  LoadedBackend b;
  b.name = name;
  b.description = t->description ? t->description : "";
  if (!as.empty()) b.description = "'" + std::string(t->name) + "' loaded as " + as + ": " + b.description;
  b.path = fs::absolute(path).lexically_normal().string();
  if (t->runtime_info) {
    if (const char* info = t->runtime_info()) b.runtime_info = info;
  }
  b.table = t;
  backends_.push_back(std::move(b));
  return true;
}

void PluginRegistry::LoadDirectory(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".so") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) LoadFile(f);
}

void PluginRegistry::LoadSearchPath(const std::string& list) {
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ':')) {
    if (item.empty()) continue;
    std::error_code ec;
    if (fs::is_directory(item, ec)) {
      LoadDirectory(item);
    } else {
      LoadFile(item);
    }
  }
}

const LoadedBackend* PluginRegistry::Find(const std::string& name) const {
  for (const auto& b : backends_)
    if (b.name == name) return &b;
  return nullptr;
}

std::string DefaultPluginDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "plugins";
  return (exe.parent_path() / "plugins").string();
}

}  // namespace attnbench
