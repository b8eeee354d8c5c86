#!/bin/bash
# How each plugin was built (attnbench_add_backend's attnbench_build_info, issue 15): `list`
# names the compiler and flags and warns about a plugin built without optimisation (tests/plugins'
# libattnbench-unoptimised.so, -O0 after the build type's flags); a bench with it records the
# file and flags in env.json and report.md (and report.html), with the warning. Then two grid
# rules of the same issue: bench turns a grid's invalid combinations into SKIPPED rows (exit 2
# only when none is valid), and validate --threads takes a list. About 5 s.
# Usage: plugin_build_info_test.sh ATTNBENCH_CLI TEST_PLUGIN_DIR SOURCE_DIR
set -u
cli=$1
plugins=$2
src=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
py=/usr/bin/python3
so=$(cd "$plugins" && pwd)/libattnbench-unoptimised.so
small=(--variant mha --seq-len 3 --batch 1 --heads 1 --d-in 8 --d-out 8 --dropout 0 --qkv-bias 0)

# list: the build line of every backend, the warning under the -O0 one only.
"$cli" list --plugin "$so" >"$tmp/list.txt" 2>&1 || { cat "$tmp/list.txt"; fail "list exited $?"; }
# A backend's block: its name line ("  naive  (ABI version 2)") to the next backend's.
block() { sed -n "/^  $1\( \|\$\)/,/^  [a-z]/p" "$tmp/list.txt"; }
block unoptimised | grep -q "file: $so" || fail "list does not name the unoptimised plugin's file"
block unoptimised | grep -q "built: .*flags .*-O0" || fail "list does not show the -O0 flags: $(block unoptimised)"
block unoptimised | grep -q "WARNING: plugin 'unoptimised' ($so) was built without optimisation" ||
  fail "list does not warn about the unoptimised plugin: $(block unoptimised)"
block naive | grep -q "built: .*flags .*-O[123]" || fail "list shows no optimised build for naive: $(block naive)"
block naive | grep -q WARNING && fail "list warns about naive"
[ "$(grep -c WARNING "$tmp/list.txt")" = 1 ] || fail "expected exactly one WARNING in list"

# A bench with it: env.json, report.md and report.html name the file and flags, and warn.
out=$tmp/run
"$cli" bench --plugin "$so" --backends naive,unoptimised "${small[@]}" --threads 1 --sgemm-size 64 \
  --benchmark_min_time=0.005 --benchmark_repetitions=2 --out "$out" --no-db -q >"$tmp/bench.log" 2>&1 ||
  { cat "$tmp/bench.log"; fail "bench exited $?"; }
"$py" - "$out/env.json" "$so" <<'PY' || fail "env.json's plugins"
import json, sys
p = json.load(open(sys.argv[1]))["plugins"]
u, n = p["unoptimised"], p["naive"]
assert u["file"] == sys.argv[2] and u["optimised"] is False and u["flags"].endswith("-O0"), u
assert "without optimisation" in u["warning"], u
assert n["optimised"] is True and n["warning"] == "" and n["file"].endswith("libattnbench-naive.so"), n
PY
grep -qF -- "- **Plugin \`unoptimised\`:** \`$so\`, " "$out/report.md" || fail "report.md does not name the plugin's file"
grep -F -- "- **Plugin \`unoptimised\`:**" "$out/report.md" | grep -q "flags \`.*-O0\`" || fail "report.md lacks the flags"
grep -qF -- "- **Warning:** plugin 'unoptimised' ($so) was built without optimisation" "$out/report.md" ||
  fail "report.md does not warn"
[ "$(grep -c -- '- \*\*Warning:\*\* plugin' "$out/report.md")" = 1 ] || fail "report.md warns about more than one plugin"
"$py" "$src/scripts/report_html.py" "$out" >/dev/null || fail "report_html.py exited $?"
grep -qF "$so: " "$out/report.html" || fail "report.html does not name the plugin's file"
grep -q "class=\"warn\">plugin &#x27;unoptimised&#x27; .*without optimisation" "$out/report.html" ||
  fail "report.html does not warn"

# bench on a grid with an invalid combination (simplified's width 40 and 6 heads): a SKIPPED row
# per backend with the reason, the rest runs, exit 0; --dry-run lists it; a resume adds no copy.
grid=(--backends naive --variant simplified,mha --heads 1,6 --d-in 40 --d-out 48 --seq-len 3 --batch 1 --dropout 0
      --qkv-bias 0 --threads 1 --sgemm-size 64 --benchmark_min_time=0.005 --benchmark_repetitions=2 --no-db -q)
"$cli" bench "${grid[@]}" --dry-run >"$tmp/dry.txt" 2>&1 || fail "dry run exited $?"
grep -q "simplified .*H=6.* SKIPPED: not a valid problem: .*not divisible by heads 6" "$tmp/dry.txt" ||
  fail "the dry run does not list the invalid combination: $(cat "$tmp/dry.txt")"
"$cli" bench "${grid[@]}" --out "$tmp/grid" >"$tmp/grid.log" 2>&1 || { cat "$tmp/grid.log"; fail "bench on the grid exited $?"; }
skipped() { grep -c ",naive/simplified/[^,]*/H:6/[^,]*,SKIPPED,.*not a valid problem: .*not divisible by heads 6" "$tmp/grid/summary.csv"; }
[ "$(skipped)" = 1 ] || fail "summary.csv lacks the SKIPPED row: $(cat "$tmp/grid/summary.csv")"
[ "$(grep -c ",PASS," "$tmp/grid/summary.csv")" = 3 ] || fail "the 3 valid combinations did not all run"
grep -q "not a valid problem" "$tmp/grid/report.md" || fail "report.md lacks the SKIPPED reason"
"$cli" bench --resume "$tmp/grid" --no-db -q >"$tmp/resume.log" 2>&1 || { cat "$tmp/resume.log"; fail "resume exited $?"; }
[ "$(skipped)" = 1 ] || fail "the resume duplicated or dropped the SKIPPED row"
"$cli" bench --backends naive --variant simplified --heads 6 --d-in 40 --seq-len 3 --threads 1 --dry-run \
  >"$tmp/none.txt" 2>&1
rc=$?
[ $rc = 2 ] || fail "a grid with no valid combination exited $rc, not 2"
[ "$(wc -l <"$tmp/none.txt")" = 1 ] && grep -q "no valid config in the grid; .*not divisible by heads 6" "$tmp/none.txt" ||
  fail "no one-line reason: $(cat "$tmp/none.txt")"

# validate --threads: a list, each count a grid axis (here in worker processes too); run: one count.
"$cli" validate --backends naive "${small[@]}" --threads 1,2 --data-seed 3 --json >"$tmp/v.json" ||
  fail "validate --threads 1,2 exited $?"
"$py" - "$tmp/v.json" <<'PY' || fail "validate --threads 1,2 --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["threads"] == [1, 2], d["threads"]
assert sorted(r["threads"] for r in d["results"]) == [1, 2], d["results"]
assert all(r["status"] == "PASS" for r in d["results"]), d["results"]
PY
"$cli" validate --backends naive "${small[@]}" --threads 2,1 --isolate --data-seed 3 >"$tmp/v.txt" 2>&1 ||
  { cat "$tmp/v.txt"; fail "validate --threads 2,1 --isolate exited $?"; }
grep -q "threads 2,1" "$tmp/v.txt" && grep -q "^PASS .* threads=2 " "$tmp/v.txt" && grep -q "^PASS .* threads=1 " "$tmp/v.txt" ||
  fail "validate --isolate did not run both thread counts: $(cat "$tmp/v.txt")"
"$cli" validate --backends naive "${small[@]}" --threads 1,x >"$tmp/bad.txt" 2>&1
[ $? = 2 ] && [ "$(wc -l <"$tmp/bad.txt")" = 1 ] || fail "validate --threads 1,x: $(cat "$tmp/bad.txt")"
"$cli" run --backend naive "${small[@]}" --threads 1,2 >"$tmp/run.txt" 2>&1
[ $? = 2 ] || fail "run --threads 1,2 was accepted (run takes one count)"
echo "PASS"
