# Every dependency comes from Debian 12 packages (scripts/setup installs them); nothing is
# downloaded at build time.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(CLI11 REQUIRED)            # libcli11-dev 2.1
find_package(nlohmann_json 3 REQUIRED)  # nlohmann-json3-dev 3.11
find_package(benchmark REQUIRED)        # libbenchmark-dev 1.7.1
# OpenBLAS (libopenblas-dev) through pkg-config; CBLAS header comes with it. ATTNBENCH_BLAS
# may name another pkg-config module providing CBLAS (e.g. blis).
set(ATTNBENCH_BLAS "openblas" CACHE STRING "pkg-config module of the CBLAS library")
pkg_check_modules(CBLAS REQUIRED IMPORTED_TARGET ${ATTNBENCH_BLAS})
find_package(hwy QUIET)                 # libhwy-dev 1.0.3
if(NOT hwy_FOUND)
  pkg_check_modules(HWY IMPORTED_TARGET libhwy)
endif()
if(ATTNBENCH_BUILD_TESTS)
  find_package(Catch2 2 REQUIRED)       # catch2 2.13 (single header catch2/catch.hpp)
  include(Catch)
endif()
