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
# Intel oneMKL (optional: the blas-mkl backend and the MKL SGEMM ceiling). Nothing links it:
# the plugin and the harness dlopen libmkl_rt RTLD_LOCAL (kernels/blas/mkl_rt.h), so only its
# path is needed, baked in as ATTNBENCH_MKL_RT (overridable at run time with $ATTNBENCH_MKL_RT).
# Looked for in -DATTNBENCH_MKL_ROOT, $MKLROOT, <build>/mkl and <source>/build/mkl (where
# scripts/setup-mkl puts the PyPI wheels: lib/libmkl_rt.so.N, maybe no unversioned link).
set(ATTNBENCH_MKL_ROOT "" CACHE PATH "oneMKL root (lib/libmkl_rt.so*); empty = $MKLROOT, <build>/mkl, <source>/build/mkl")
set(ATTNBENCH_MKL_RT "")
set(ATTNBENCH_MKL_INCLUDE_DIR "")
set(ATTNBENCH_MKL_WHY "no libmkl_rt.so* under -DATTNBENCH_MKL_ROOT, $MKLROOT, ${CMAKE_BINARY_DIR}/mkl or ${PROJECT_SOURCE_DIR}/build/mkl (scripts/setup-mkl installs it)")
foreach(_root IN ITEMS "${ATTNBENCH_MKL_ROOT}" "$ENV{MKLROOT}" "${CMAKE_BINARY_DIR}/mkl" "${PROJECT_SOURCE_DIR}/build/mkl")
  if(NOT _root OR ATTNBENCH_MKL_RT)
    continue()
  endif()
  foreach(_libdir IN ITEMS lib lib/intel64 lib64)
    # Prefer the versioned soname (what the wheels ship) over the unversioned dev link.
    file(GLOB _cands "${_root}/${_libdir}/libmkl_rt.so.[0-9]*" "${_root}/${_libdir}/libmkl_rt.so")
    if(_cands)
      list(SORT _cands COMPARE NATURAL ORDER DESCENDING)
      list(GET _cands 0 _rt)
      get_filename_component(ATTNBENCH_MKL_RT "${_rt}" ABSOLUTE)
      if(EXISTS "${_root}/include/mkl_service.h")
        get_filename_component(ATTNBENCH_MKL_INCLUDE_DIR "${_root}/include" ABSOLUTE)
      endif()
      break()
    endif()
  endforeach()
endforeach()
if(ATTNBENCH_MKL_RT)
  message(STATUS "oneMKL: ${ATTNBENCH_MKL_RT} (blas-mkl backend, MKL SGEMM ceiling)")
endif()
