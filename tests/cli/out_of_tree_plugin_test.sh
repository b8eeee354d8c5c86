#!/usr/bin/env bash
# Builds examples/plugin as its own CMake project against this build tree, exactly as the
# README's "Add a backend" says, then loads and validates it.
# Usage: out_of_tree_plugin_test.sh ATTNBENCH_CLI SOURCE_DIR BUILD_DIR
set -euo pipefail
cli=$1
src=$2
build=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$src/examples/plugin" "$tmp/my-backend"
# As the README says it, with no build type: the template must default to an optimised build.
cmake -S "$tmp/my-backend" -B "$tmp/build" -Dattnbench_DIR="$build" >/dev/null
grep -q "^CMAKE_BUILD_TYPE:STRING=Release$" "$tmp/build/CMakeCache.txt" ||
  { echo "FAIL: the template did not default to Release"; exit 1; }
cmake --build "$tmp/build" >/dev/null
so="$tmp/build/libattnbench-example.so"
# Built with today's headers, it is a version-2 plugin, and list says so.
"$cli" list --plugin "$so" | grep -A2 "^  example  (ABI version 2)$"
"$cli" validate --plugin "$so" --backends example -q \
  --seq-len 1,3,17,65 --heads 1,3,4 --batch 1,2 --dropout 0,0.1 --qkv-bias 0,1
# And it handles the version-2 forms: grouped-query heads, windows, a KV cache.
"$cli" validate --plugin "$so" --backends example -q --variant causal,mha --seq-len 1,3,17 \
  --past-len 0,5 --heads 6 --kv-heads 1,2,6 --window 0,4 --d-in 24 --d-out 36 --dropout 0,0.3 --qkv-bias 1
# And through the environment variable instead of --plugin.
ATTNBENCH_PLUGIN_PATH="$tmp/build" "$cli" list | grep -q "^  example"
# How it was built (embedded by attnbench_add_backend): list and the report of a bench with it
# name its file and its optimised flags, and warn about nothing.
"$cli" list --plugin "$so" | grep -A4 "^  example" | grep -q "built: .*, Release, flags .*-O3" ||
  { echo "FAIL: list does not show the example's Release flags"; exit 1; }
"$cli" bench --plugin "$so" --backends example --variant mha --seq-len 3 --batch 1 --heads 1 --d-in 8 --d-out 8 \
  --dropout 0 --qkv-bias 0 --threads 1 --sgemm-size 64 --benchmark_min_time=0.005 --benchmark_repetitions=2 \
  --out "$tmp/run" --no-db -q >/dev/null
grep -F -- "- **Plugin \`example\`:** \`$so\`, " "$tmp/run/report.md" | grep -q "Release, flags \`.*-O3" ||
  { echo "FAIL: report.md does not name the example plugin's file and flags"; exit 1; }
if grep -q -- "- \*\*Warning:\*\* plugin" "$tmp/run/report.md"; then
  echo "FAIL: report.md warns about the optimised example plugin"; exit 1
fi
