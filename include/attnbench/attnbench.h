// attnbench public API, for backend authors: include this one header.
#ifndef ATTNBENCH_ATTNBENCH_H_
#define ATTNBENCH_ATTNBENCH_H_

#include "attnbench/backend_abi.h"  // the C plugin ABI (versioned table, entry point)
#include "attnbench/dropout.h"      // the shared counter-based dropout mask
#include "attnbench/problem.hpp"    // ab_problem presets, sizes, checks
#include "attnbench/tensor.hpp"     // 64-byte aligned buffers
#include "attnbench/backend.hpp"    // C++ class -> C ABI: ATTNBENCH_REGISTER_BACKEND

#endif  // ATTNBENCH_ATTNBENCH_H_
