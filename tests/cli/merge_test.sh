#!/usr/bin/env bash
# Shards and merge: three shards run in process merge into the same cells and statuses as the
# sweep run in one process; a shard started again on its --out resumes; merge refuses a shard
# given twice, a missing shard, an unfinished shard, shards of another sweep or commit (unless
# --allow-mixed); two hosts' runs (the second host's env.json faked, its cells measured) merge
# side by side. The history: every run recorded, filters, compare db:ID db:ID, plot --history.
# Usage: merge_test.sh ATTNBENCH_CLI
set -u
cli=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$tmp"
db=$tmp/hist.db
sweep=(--backends naive,openmp --variant mha --seq-len 1,3,17,65 --heads 1,3 --batch 1 --d-in 12 --d-out 12
       --threads 1 --dropout 0 --qkv-bias 0 --sgemm-size 64 --benchmark_min_time=0.005 --benchmark_repetitions=2 -q)
n=16

"$cli" bench "${sweep[@]}" --out single --db "$db" >/dev/null || fail "single-process run"
for i in 0 1 2; do
  "$cli" bench "${sweep[@]}" --shard $i/3 --out shard-$i >"shard-$i.log" || fail "shard $i/3: $(cat shard-$i.log)"
  grep -q "history: run 1 in shard-$i/attnbench.db" "shard-$i.log" || fail "shard $i: not recorded in its own db: $(cat shard-$i.log)"
done
# A shard started again on its --out resumes it (nothing left to run) instead of starting over.
"$cli" bench "${sweep[@]}" --shard 1/3 --out shard-1 >again.log 2>&1 || fail "shard again: $(cat again.log)"
grep -q "resumed: [0-9]* cells kept from the earlier run, 0 run now" again.log || fail "shard again did not resume: $(cat again.log)"
"$cli" bench "${sweep[@]}" --shard 2/3 --out shard-1 >/dev/null 2>err.log; rc=$?
[ $rc -eq 2 ] && grep -q "conflict" err.log || fail "shard 2/3 onto shard 1's --out: exit $rc: $(cat err.log)"
"$cli" bench "${sweep[@]}" --shard 3/3 --out x >/dev/null 2>err.log; rc=$?
[ $rc -eq 2 ] && grep -q -- "--shard" err.log || fail "--shard 3/3: exit $rc"

"$cli" merge shard-2 shard-0 shard-1 --out merged --db "$db" >merge.log || fail "merge: $(cat merge.log)"
grep -q "3 shards into merged" merge.log && grep -q "3 shard runs imported" merge.log || fail "merge output: $(cat merge.log)"
python3 - single merged $n <<'PY' || fail "merged run differs from the single-process run"
import csv, json, os, sys
single, merged, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = lambda d: list(csv.DictReader(open(os.path.join(d, "summary.csv"))))
a, b = rows(single), rows(merged)
assert len(b) == n and len({r["name"] for r in b}) == n, "not every cell exactly once"
assert [(r["name"], r["status"]) for r in a] == [(r["name"], r["status"]) for r in b], "names, statuses or order differ"
assert all(float(r["speedup"]) > 0 for r in b if r["backend"] == "naive" and r["status"] == "PASS") or True
sweep = json.load(open(os.path.join(merged, "sweep.json")))
assert "shard" not in sweep["spec"] and len(sweep["cells"]) == n
env = json.load(open(os.path.join(merged, "env.json")))
assert [s["shard"] for s in env["shards"]] == ["0/3", "1/3", "2/3"]
assert sum(s["cells"] for s in env["shards"]) == n
bench = json.load(open(os.path.join(merged, "bench.json")))
assert len([b for b in bench["benchmarks"] if b.get("run_type") == "iteration"]) == 2 * n
assert open(os.path.join(merged, "report.md")).read().startswith("# attnbench report")
for i in range(3):  # each shard a complete run directory of its part
    d = f"shard-{i}"
    s = json.load(open(os.path.join(d, "sweep.json")))
    assert s["spec"]["shard"] == {"index": i, "count": 3} and len(s["sweep_cells"]) == n
    assert 0 < len(rows(d)) < n and os.path.exists(os.path.join(d, "env.json"))
PY

# Refusals: one line, exit 2.
refuse() {  # refuse "what" "grep pattern" merge-args...
  local what=$1 pat=$2
  shift 2
  "$cli" merge "$@" --out refused --no-db >/dev/null 2>err.log; local rc=$?
  [ $rc -eq 2 ] && grep -q "$pat" err.log && [ "$(wc -l <err.log)" -eq 1 ] || fail "$what: exit $rc: $(cat err.log)"
}
refuse "duplicate shard" "shard 1/3 given twice" shard-0 shard-1 shard-1 shard-2
refuse "missing shard" "shard 2/3 missing" shard-0 shard-1
refuse "not a run" "not a bench output directory" shard-0 "$tmp"
"$cli" bench "${sweep[@]}" --data-seed 7 --shard 2/3 --out other-2 --no-db >/dev/null || fail "other sweep's shard"
refuse "another sweep" "shard of another sweep" shard-0 shard-1 other-2
cp -r shard-2 unfinished-2
python3 - unfinished-2/summary.csv <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines(True)
open(sys.argv[1], "w").write("".join(lines[:-1]))
PY
refuse "unfinished shard" "unfinished" shard-0 shard-1 unfinished-2
cp -r shard-2 commit-2
python3 - commit-2/env.json <<'PY'
import json, sys
e = json.load(open(sys.argv[1])); e["git"]["commit"] = "0123456789abcdef"; json.dump(e, open(sys.argv[1], "w"))
PY
refuse "other commit" "different commits" shard-0 shard-1 commit-2
"$cli" merge shard-0 shard-1 commit-2 --out mixed --allow-mixed --no-db -q || fail "--allow-mixed"
refuse "shard among whole runs" "merge the shards first" single shard-0

# Two hosts: a copy of the single run as host 'zen5' (its env.json says so; its cells are the
# ones measured here).
cp -r single zen5
python3 - zen5/env.json <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
e["host"] = "zen5"; e["cpu"]["model"] = "AMD EPYC 9005 (faked)"; e["sgemm_gflops"] = {"1": 123.0}
for f in e["machine"]["fma"]:
    f["gflops"] = 1000.0 + f["gflops"]  # a faster machine: its own peak, not this host's
json.dump(e, open(sys.argv[1], "w"))
PY
here=$(python3 -c 'import json; print(json.load(open("single/env.json"))["host"])')
"$cli" merge single zen5 --out hosts --db "$db" -q || fail "hosts merge"
python3 - hosts "$here" zen5 $n <<'PY' || fail "hosts merge output"
import csv, json, os, sys
d, h1, h2, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rows = list(csv.DictReader(open(os.path.join(d, "summary.csv"))))
assert len(rows) == 2 * n and {r["host"] for r in rows} == {h1, h2}
assert {r["backend"] for r in rows} == {f"{b}@{h}" for b in ("naive", "openmp") for h in (h1, h2)}
z = [r for r in rows if r["host"] == h2 and r["status"] == "PASS"]
assert z and all(abs(float(r["sgemm_gflops"]) - 123.0) < 1e-9 for r in z), "zen5's own ceiling not used"
assert all(float(r["peak_gflops"]) > 1000.0 for r in z), "zen5's own measured peak not used"
assert all(0 < float(r["peak_gflops"]) < 1000.0 for r in rows if r["host"] == h1 and r["status"] == "PASS")
assert "measured FMA peak" in open(os.path.join(d, "report.md")).read()
md = open(os.path.join(d, "report.md")).read()
assert "2 hosts side by side" in md and "AMD EPYC 9005 (faked)" in md and f"| {h1} |" in md
assert f"naive@{h2}" in md and f"naive@{h1}" in md
env = json.load(open(os.path.join(d, "env.json")))
assert set(env["hosts"]) == {h1, h2} and env["hosts"][h2]["cpu"]["model"].endswith("(faked)")
PY
refuse "same host twice" "two runs of host" single single

# History: single (bench), 3 shards + merge, hosts merge.
"$cli" history --db "$db" --json >runs.json || fail "history"
python3 - runs.json <<'PY' || fail "history runs: $(cat runs.json)"
import json, sys
runs = json.load(open(sys.argv[1]))
kinds = sorted(r["kind"] for r in runs)
assert kinds == ["bench", "merge", "merge", "shard", "shard", "shard"], kinds
assert all(r["cells"] > 0 for r in runs)
assert sorted(r["shard"] for r in runs if r["kind"] == "shard") == ["0/3", "1/3", "2/3"]
PY
[ "$("$cli" history --db "$db" --kind shard --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 3 ] || fail "--kind"
[ "$("$cli" history --db "$db" --host nosuchhost --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 0 ] || fail "--host"
[ "$("$cli" history --db "$db" --commit 0000000 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 0 ] || fail "--commit"
[ "$("$cli" history --db "$db" --until 2000-01-01 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 0 ] || fail "--until"
"$cli" history --db "$db" --cells --backend naive --config T:17/ --kind bench >cells.txt || fail "history --cells"
[ "$(grep -c 'naive/mha/B:1/T:17/' cells.txt)" -eq 2 ] || fail "history --cells: $(cat cells.txt)"
"$cli" history --db "$db" >table.txt && grep -q "merge" table.txt || fail "history table"
"$cli" history --db nonexistent.db >/dev/null 2>err.log; [ $? -eq 2 ] || fail "history of a missing db"
echo "not a db" >bad.db
"$cli" history --db bad.db >/dev/null 2>err.log; [ $? -eq 2 ] || fail "history of a non-db: $(cat err.log)"

# compare two runs of the history (the single run and the merged shards), and db:ID errors.
ids=$(python3 -c 'import json,sys; r=json.load(open("runs.json")); print(" ".join(str(x["id"]) for x in r if x["kind"] in ("bench",) ) , [x["id"] for x in r if x["kind"]=="merge"][0])')
set -- $ids
"$cli" compare db:$1 db:$2 --db "$db" >cmp.txt 2>&1 || fail "compare db:$1 db:$2: $(cat cmp.txt)"
grep -q "naive" cmp.txt || fail "compare output: $(cat cmp.txt)"
"$cli" compare db:999 db:$1 --db "$db" >/dev/null 2>err.log; [ $? -eq 2 ] && grep -q "no run 999" err.log || fail "compare db:999"
"$cli" compare db:x db:$1 --db "$db" >/dev/null 2>err.log; [ $? -eq 2 ] || fail "compare db:x"

# plot --history: naive on one config across the recorded runs.
if python3 -c 'import matplotlib' 2>/dev/null; then
  "$cli" plot --history --db "$db" --backend naive --config "T:65/din:12/dout:12/H:3/" --out hist.png >plot.log 2>&1 ||
    fail "plot --history: $(cat plot.log)"
  [ -s hist.png ] || fail "no hist.png"
  "$cli" plot --history --db "$db" --backend naive --config "T:65" --out x.png >/dev/null 2>err.log
  [ $? -eq 2 ] && grep -q "matches 2 configs" err.log || fail "ambiguous --config: $(cat err.log)"
fi
"$cli" history --help >/dev/null && "$cli" merge --help >/dev/null || fail "--help"
echo ok
