// The parent's check of an isolated worker's result message (cell_runner.h has the protocol,
// isolate.h the channel): nothing a worker sends may crash the parent or land in another cell.
// Its own file, with few dependencies, so that the fuzz target (tests/fuzz/worker_fuzz.cpp)
// builds it alone.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "result.h"

namespace attnbench::bench {

// A worker's result for the cell named cell_name, checked before the parent uses any of it.
struct WorkerResult {
  Cell cell;
  nlohmann::json check;                                   // null or an object
  nlohmann::json benchmarks = nlohmann::json::array();    // Google Benchmark entries of this cell only
  nlohmann::json context;                                 // null or an object
};
// False with *error when the result is malformed: a field of the wrong type, a status a worker
// cannot give (CRASHED, TIMEOUT, FILTERED or unknown), a number that does not parse, or a
// Google Benchmark entry that is not this cell's. Never throws.
bool DecodeWorkerResult(const nlohmann::json& body, const std::string& cell_name, WorkerResult* out,
                        std::string* error);

}  // namespace attnbench::bench
