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
