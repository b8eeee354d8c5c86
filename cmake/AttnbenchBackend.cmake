# attnbench_add_backend(<name> SOURCES <src>... [LIBRARIES <lib>...])
#
# Builds one backend plugin: a MODULE library libattnbench-<name>.so in the plugin directory
# beside the CLI (bin/plugins), linked privately against the public headers plus LIBRARIES,
# exporting nothing but attnbench_backend_entry (hidden visibility), and made a dependency of
# the CLI so `cmake --build` always produces every enabled plugin.
# In the tree: bin/plugins beside the CLI. An out-of-tree project (attnbenchConfig.cmake) sets
# its own build directory before including this file.
if(NOT DEFINED ATTNBENCH_PLUGIN_DIR)
  set(ATTNBENCH_PLUGIN_DIR "${CMAKE_BINARY_DIR}/bin/plugins")
endif()
if(NOT TARGET attnbench_plugins)
  add_custom_target(attnbench_plugins)
endif()

function(attnbench_add_backend name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "attnbench_add_backend(${name}): no SOURCES")
  endif()
  set(target attnbench_backend_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE attnbench::headers ${ARG_LIBRARIES})
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME "attnbench-${name}"
    LIBRARY_OUTPUT_DIRECTORY "${ATTNBENCH_PLUGIN_DIR}"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  add_dependencies(attnbench_plugins ${target})
endfunction()
