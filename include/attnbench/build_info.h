/* attnbench plugin build facts: an optional exported C string a plugin carries beside its entry
 * point, so the host can say which compiler and flags made the code it times (`attnbench list`,
 * env.json, the reports) and warn about a plugin built without optimisation.
 *
 * attnbench_add_backend() (cmake/AttnbenchBackend.cmake, in the tree and for out-of-tree projects
 * through the package config) generates and links it; a plugin built any other way has none, and
 * the host reports "unknown". It is not part of the backend table: the ABI stays as it is, and a
 * plugin without the symbol loads as before.
 *
 * Format: lines "key=value" separated by '\n', the first line the format tag:
 *   attnbench-build-info 1
 *   compiler=GNU 12.2.0
 *   build_type=Release                 (CMAKE_BUILD_TYPE; empty when none was set)
 *   flags=-O3 -DNDEBUG                 (CMAKE_CXX_FLAGS + CMAKE_CXX_FLAGS_<CONFIG> + the target's
 *                                       own COMPILE_OPTIONS, in the order the compiler sees them)
 * Unknown keys are ignored, so later versions may add lines. */
#ifndef ATTNBENCH_BUILD_INFO_H_
#define ATTNBENCH_BUILD_INFO_H_

/* The symbol's name, for dlsym: `extern "C" const char attnbench_build_info[]`. */
#define AB_BUILD_INFO_SYMBOL "attnbench_build_info"
/* The first line of the text. */
#define AB_BUILD_INFO_TAG "attnbench-build-info 1"

#endif /* ATTNBENCH_BUILD_INFO_H_ */
