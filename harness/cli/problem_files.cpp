#include "problem_files.h"

#include <filesystem>

namespace attnbench::cli {

namespace fs = std::filesystem;

void AddProblemFileFlags(CLI::App* app, ProblemFiles& f) {
  app->add_option("--input", f.input,
                  "Read x [B,T,d_in] (or [T,d_in]) from this .npy (float32) instead of random; sets B, T, d-in");
  app->add_option("--weights", f.weights_dir,
                  "Read w_q.npy ... b_o.npy (and k_cache.npy, v_cache.npy with a past-len) from this directory "
                  "instead of random; w_q sets d-in, d-out; k_cache sets kv-heads, past-len");
}

namespace {

// A flag not given takes the file's value; a flag given must say the same.
void TakeSize(GridSpec& g, std::string GridSpec::*field, const std::string& flag, int64_t value, const CLI::App& sub,
              const std::string& source) {
  const std::string v = std::to_string(value);
  if (sub.count(flag) && g.*field != v)
    throw InputError(flag + " " + g.*field + " conflicts with " + source + " (" + flag.substr(2) + " = " + v + ")");
  g.*field = v;
}

}  // namespace

void TakeShapeFromFiles(ProblemFiles& f, GridSpec& g, const CLI::App& sub) {
  if (!f.input.empty()) {
    if (!fs::is_regular_file(f.input)) throw InputError("--input: no such file '" + f.input + "'");
    f.x = ReadNpy(f.input);
    if (f.x.shape.size() == 2) f.x.shape.insert(f.x.shape.begin(), 1);
    if (f.x.shape.size() != 3)
      throw InputError("--input: " + f.input + " has shape " + ShapeString(f.x.shape) +
                       ", expected (B, T, d_in) or (T, d_in)");
    const std::string src = "--input " + f.input + " of shape " + ShapeString(f.x.shape);
    TakeSize(g, &GridSpec::batch, "--batch", f.x.shape[0], sub, src);
    TakeSize(g, &GridSpec::seq_len, "--seq-len", f.x.shape[1], sub, src);
    TakeSize(g, &GridSpec::d_in, "--d-in", f.x.shape[2], sub, src);
  }
  if (f.weights_dir.empty()) return;
  if (!fs::is_directory(f.weights_dir)) throw InputError("--weights: no such directory '" + f.weights_dir + "'");
  // The cache [B, kv_heads, past_len, head_dim] says how many KV heads and cached tokens there are.
  const fs::path kc = fs::path(f.weights_dir) / "k_cache.npy";
  if (fs::exists(kc)) {
    const NpyArray k = ReadNpy(kc.string());
    if (k.shape.size() != 4)
      throw InputError("--weights: " + kc.string() + " has shape " + ShapeString(k.shape) +
                       ", expected (B, kv_heads, past_len, head_dim)");
    const std::string src = "--weights " + kc.string() + " of shape " + ShapeString(k.shape);
    TakeSize(g, &GridSpec::kv_heads, "--kv-heads", k.shape[1], sub, src);
    TakeSize(g, &GridSpec::past_len, "--past-len", k.shape[2], sub, src);
  }
  const fs::path wq = fs::path(f.weights_dir) / "w_q.npy";
  if (!fs::exists(wq)) return;  // simplified needs none; LoadProblemFiles names what is missing
  const NpyArray w = ReadNpy(wq.string());
  if (w.shape.size() != 2)
    throw InputError("--weights: " + wq.string() + " has shape " + ShapeString(w.shape) + ", expected (d_in, d_out)");
  if (!f.input.empty() && g.d_in != std::to_string(w.shape[0]))
    throw InputError("--weights: " + wq.string() + " has shape " + ShapeString(w.shape) + " but --input has d_in = " + g.d_in);
  const std::string src = "--weights " + wq.string() + " of shape " + ShapeString(w.shape);
  TakeSize(g, &GridSpec::d_in, "--d-in", w.shape[0], sub, src);
  TakeSize(g, &GridSpec::d_out, "--d-out", w.shape[1], sub, src);
}

void LoadProblemFiles(ProblemFiles& f, ProblemData& data) {
  if (!f.input.empty()) data.x = std::move(f.x.data);
  if (f.weights_dir.empty()) return;
  for (auto& t : WeightTensors(data)) {
    const fs::path p = fs::path(f.weights_dir) / (std::string(t.name) + ".npy");
    if (!fs::exists(p)) throw InputError("--weights: " + p.string() + " is missing (this problem needs it)");
    *t.buf = ReadNpyExpect(p.string(), t.shape).data;
  }
}

}  // namespace attnbench::cli
