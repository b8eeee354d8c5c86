#!/usr/bin/env bash
# kill -9 at several moments of a sweep: every file in --out is whole (JSON parses, the CSV has
# one field count), no temporary file is left, and --resume finishes the sweep.
# Usage: bench_kill_test.sh ATTNBENCH_CLI
set -u
cli=$1
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
out=$tmp/run
n=12
sweep=(--backends naive --variant mha --seq-len 8,12,16,20,24,28,32,36,40,44,48,52 --heads 2 --batch 1 --d-in 16
       --d-out 16 --threads 1 --dropout 0 --qkv-bias 0 --sgemm-size 64 --benchmark_min_time=0.05
       --benchmark_repetitions=2 -q)
rows() { [ -f "$out/summary.csv" ] && echo $(($(wc -l <"$out/summary.csv") - 1)) || echo 0; }
check_whole() {
  python3 - "$out" <<'PY' || fail "files not whole after kill -9"
import csv, json, os, sys
out = sys.argv[1]
for f in os.listdir(out):
    assert ".tmp." not in f, f"temporary file left: {f}"
    if f.endswith(".json"):
        json.load(open(os.path.join(out, f)))
    if f == "summary.csv":
        rows = list(csv.reader(open(os.path.join(out, f))))
        assert rows and all(len(r) == len(rows[0]) for r in rows)
    if f == "report.md":
        assert open(os.path.join(out, f)).read().startswith("# attnbench report")
PY
}
# Kill at growing delays (the first run, then resumes of it): the files are rewritten after
# every cell, so some kills land during a write.
args=(bench "${sweep[@]}" --out "$out")
mid=0
for delay in 0.1 0.4 0.5 0.6 0.8 1.0; do
  "$cli" "${args[@]}" >/dev/null 2>&1 &
  pid=$!
  sleep $delay
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  pid=
  r=$(rows)
  echo "kill -9 after ${delay}s: $r of $n rows"
  [ "$r" -gt 0 ] && [ "$r" -lt $n ] && mid=1
  [ -d "$out" ] && check_whole
  [ -f "$out/sweep.json" ] && args=(bench --resume "$out" -q)
done
[ $mid -eq 1 ] || fail "no kill landed mid-sweep (the sweep is too fast or too slow here)"
"$cli" "${args[@]}" >"$tmp/stdout" 2>&1 || fail "resume after kill -9: $(cat "$tmp/stdout")"
check_whole
[ "$(rows)" -eq $n ] || fail "want $n rows after the resume, have $(rows)"
# A kill between the writes of bench.json and summary.csv leaves bench.json a cell ahead; the
# resume reconciles: every timed row has its repetitions in bench.json exactly once, nothing else.
python3 - "$out" <<'PY' || fail "bench.json and summary.csv disagree after the resume"
import collections, csv, json, os, sys
out = sys.argv[1]
timed = {r["name"] for r in csv.DictReader(open(os.path.join(out, "summary.csv"))) if r["status"] in ("PASS", "MISTRUSTED")}
bench = json.load(open(os.path.join(out, "bench.json")))
reps = collections.Counter(b["run_name"].removesuffix("/real_time") for b in bench["benchmarks"] if b.get("run_type") == "iteration")
assert set(reps) == timed, (set(reps) ^ timed)
assert len(set(reps.values())) == 1, reps  # the same repetition count everywhere: no cell twice
PY
echo ok
