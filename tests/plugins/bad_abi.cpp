// A plugin built for a future ABI: the loader must refuse it and name the version.
#include <attnbench/backend_abi.h>

static const ab_backend_i kTable = {/* .api_version = */ AB_ABI_VERSION + 41, "bad-abi", "wrong ABI version",
                                    nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
extern "C" AB_EXPORT const ab_backend_i* attnbench_backend_entry(void) { return &kTable; }
