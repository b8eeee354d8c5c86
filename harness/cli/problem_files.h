// --input x.npy and --weights DIR, as `run` and `explain` read them: the files set the sizes they
// hold (a size flag not given takes the file's value; one given must agree), then replace the
// random inputs / weights.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "../grid.h"
#include "../npy.h"
#include "../problem_data.h"

namespace attnbench::cli {

struct ProblemFiles {
  std::string input;        // x [B, T, d_in], or [T, d_in] read as B = 1
  std::string weights_dir;  // w_q.npy ... b_o.npy, k_cache.npy, v_cache.npy
  NpyArray x;               // read by TakeShapeFromFiles
};

void AddProblemFileFlags(CLI::App* app, ProblemFiles& f);

// Reads --input (into f.x), --weights/w_q.npy and --weights/k_cache.npy (when there) and writes
// B, T, d-in, d-out, kv-heads, past-len into grid; throws
// InputError when a flag given on sub disagrees with a file, NpyError for a bad file.
void TakeShapeFromFiles(ProblemFiles& f, GridSpec& grid, const CLI::App& sub);

// Replaces data.x by f.x (moved out) and each weight by its file; throws InputError for a missing
// weight file, NpyError for a wrong shape.
void LoadProblemFiles(ProblemFiles& f, ProblemData& data);

}  // namespace attnbench::cli
