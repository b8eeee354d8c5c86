#include "plugin_loader.h"

#include <attnbench/build_info.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>

namespace attnbench {

namespace fs = std::filesystem;

PluginRegistry::~PluginRegistry() = default;

bool IsValidBackendName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

namespace {

// Length of the valid UTF-8 sequence at s[0..n), or 0 (overlong forms and surrogates rejected).
size_t Utf8SequenceLength(const unsigned char* s, size_t n) {
  const unsigned char c = s[0];
  size_t len;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
  else return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

}  // namespace

std::string SanitizePluginText(const char* text, size_t max_bytes) {
  if (!text) return {};
  const size_t n = strnlen(text, max_bytes);
  const auto* s = reinterpret_cast<const unsigned char*>(text);
  std::string out;
  for (size_t i = 0; i < n;) {
    if (s[i] >= 0x20 && s[i] < 0x7F) {
      out += static_cast<char>(s[i++]);
    } else if (const size_t len = s[i] >= 0x80 ? Utf8SequenceLength(s + i, n - i) : 0) {
      out.append(text + i, len);
      i += len;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", s[i++]);
      out += buf;
    }
  }
  return out;
}

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
  if (t->api_version < AB_ABI_MIN_VERSION || t->api_version > AB_ABI_VERSION) {
    std::ostringstream os;
    os << "ABI version " << t->api_version << ", this attnbench loads " << AB_ABI_MIN_VERSION
       << " to " << AB_ABI_VERSION << " (rebuild the plugin against these headers)";
    dlclose(handle);
    return refuse(os.str());
  }
  if (!t->name || !*t->name || !t->supports || !t->prepare || !t->run || !t->workspace_bytes ||
      !t->destroy) {
    dlclose(handle);
    return refuse("incomplete backend table (a name and every function but runtime_info are required)");
  }
  const std::string name = as.empty() ? SanitizePluginText(t->name, 128) : as;
  if (!IsValidBackendName(name)) {
    dlclose(handle);
    return refuse("backend name '" + name + "' is not 1-64 characters of [a-z0-9-]");
  }
  if (const LoadedBackend* other = Find(name)) {
    // Do not dlclose: the first plugin with this name may share the handle (same file twice).
    return refuse("duplicate backend name '" + name + "' (already loaded from " + other->path + ")");
  }
  LoadedBackend b;
  b.name = name;
  b.description = SanitizePluginText(t->description);
  if (!as.empty()) b.description = "'" + SanitizePluginText(t->name, 128) + "' loaded as " + as + ": " + b.description;
  b.path = fs::absolute(path).lexically_normal().string();
  if (t->runtime_info) {
    b.runtime_info = SanitizePluginText(t->runtime_info());
  }
  // Optional: plugins built without attnbench_add_backend() have none.
  b.build = ParseBuildInfo(static_cast<const char*>(dlsym(handle, AB_BUILD_INFO_SYMBOL)));
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

PluginBuildInfo ParseBuildInfo(const char* text) {
  PluginBuildInfo b;
  if (!text) return b;
  std::istringstream in(std::string(text, strnlen(text, 16384)));
  std::string line;
  if (!std::getline(in, line) || line != AB_BUILD_INFO_TAG) return b;
  auto trim = [](const std::string& s) {
    const auto a = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
    return a == std::string::npos ? std::string() : s.substr(a, e - a + 1);
  };
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq), value = SanitizePluginText(trim(line.substr(eq + 1)).c_str(), 4096);
    if (key == "compiler") b.compiler = value;
    else if (key == "build_type") b.build_type = value;
    else if (key == "flags") b.flags = value;
  }
  b.known = true;
  b.optimised = IsOptimisingFlags(b.flags);
  return b;
}

bool IsOptimisingFlags(const std::string& flags) {
  std::istringstream in(flags);
  std::string word, last;
  while (in >> word)
    if (word.rfind("-O", 0) == 0) last = word;
  return last == "-O" || last == "-O1" || last == "-O2" || last == "-O3" || last == "-Os" || last == "-Oz" ||
         last == "-Ofast";
}

std::string DescribeBuild(const PluginBuildInfo& b) {
  if (!b.known) return "unknown: built without attnbench_add_backend";
  return (b.compiler.empty() ? "compiler ?" : b.compiler) + ", " +
         (b.build_type.empty() ? "no build type" : b.build_type) + ", flags " + (b.flags.empty() ? "(none)" : b.flags);
}

std::string UnoptimisedWarning(const LoadedBackend& b) {
  if (!b.build.known || b.build.optimised) return "";
  return "plugin '" + b.name + "' (" + b.path + ") was built without optimisation (" +
         (b.build.build_type.empty() ? "no build type" : "build type " + b.build.build_type) + ", flags " +
         (b.build.flags.empty() ? "(none)" : b.build.flags) +
         "): its times are not representative; rebuild it with -DCMAKE_BUILD_TYPE=Release";
}

std::string DefaultPluginDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "plugins";
  return (exe.parent_path() / "plugins").string();
}

}  // namespace attnbench
