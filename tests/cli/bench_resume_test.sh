#!/usr/bin/env bash
# Interrupt and resume: SIGINT (in process) exits 130 with a message and whole files; a resume
# with --isolate is stopped by SIGTERM (143); a last resume finishes the sweep. Cells finished
# before an interrupt are never run again (their rows, medians included, are unchanged).
# Also: --resume refuses conflicting sweep flags and directories without a run (exit 2).
# Usage: bench_resume_test.sh ATTNBENCH_CLI
set -u
cli=$1
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
out=$tmp/run
n=10
sweep=(--backends naive --variant mha --seq-len 8,12,16,20,24,28,32,36,40,44 --heads 2 --batch 1 --d-in 16
       --d-out 16 --threads 1 --dropout 0 --qkv-bias 0 --sgemm-size 64
       --benchmark_min_time=0.04 --benchmark_repetitions=3)
rows() { [ -f "$out/summary.csv" ] && echo $(($(wc -l <"$out/summary.csv") - 1)) || echo 0; }
# Starts the bench in the background, waits for >= $1 rows past $2, sends signal $3; sets rc.
interrupt_at() {
  local want=$1 base=$2 sig=$3
  shift 3
  "$cli" "$@" >"$tmp/stdout" 2>"$tmp/stderr" &
  pid=$!
  for _ in $(seq 1 600); do
    [ "$(rows)" -ge $((base + want)) ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.05
  done
  kill -s "$sig" $pid 2>/dev/null
  wait $pid
  rc=$?
  pid=
  cat "$tmp/stderr"
}
check_whole() {
  python3 - "$out" <<'PY' || fail "files not whole"
import csv, json, os, sys
out = sys.argv[1]
for f in os.listdir(out):
    assert ".tmp." not in f, f"temporary file left: {f}"
    if f.endswith(".json"):
        json.load(open(os.path.join(out, f)))
rows = list(csv.reader(open(os.path.join(out, "summary.csv"))))
assert all(len(r) == len(rows[0]) for r in rows)
PY
}
medians() { python3 -c 'import csv,sys; [print(r["name"], r["median_s"]) for r in csv.DictReader(open(sys.argv[1])) if r["status"]=="PASS"]' "$out/summary.csv" | sort; }

# 1. SIGINT in process, after 2 cells.
interrupt_at 2 0 INT bench "${sweep[@]}" --out "$out" -q
[ $rc -eq 130 ] || fail "SIGINT: exit code $rc, want 130"
grep -q "interrupted (SIGINT) after [0-9]* of $n cells; results so far in $out; continue with \`attnbench bench --resume $out\`" \
  "$tmp/stderr" || fail "no interrupt message"
check_whole
first=$(rows)
[ "$first" -ge 2 ] && [ "$first" -lt $n ] || fail "after SIGINT: $first rows, want 2..$((n - 1))"
medians >"$tmp/m1"

# --resume refuses what it cannot continue.
"$cli" bench --resume "$out" --seq-len 8 -q >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "conflict" "$tmp/err" || fail "conflicting --seq-len: exit $rc, want 2: $(cat "$tmp/err")"
"$cli" bench --resume "$out" --benchmark_repetitions=5 -q >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] || fail "conflicting --benchmark_repetitions: exit $rc, want 2"
mkdir "$tmp/empty"
"$cli" bench --resume "$tmp/empty" -q >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "no resumable run" "$tmp/err" || fail "empty dir: exit $rc, want 2: $(cat "$tmp/err")"
[ "$(rows)" -eq "$first" ] || fail "a refused resume changed the files"
"$cli" bench --resume "$out" --dry-run >"$tmp/dry" || fail "--resume --dry-run"
grep -q "$first of $n cells finished" "$tmp/dry" || fail "dry run: $(cat "$tmp/dry")"

# 2. Resume isolated (same --backends given again is fine), SIGTERM after 2 more cells.
interrupt_at 2 "$first" TERM bench --resume "$out" --backends naive --isolate --timeout 60
[ $rc -eq 143 ] || fail "SIGTERM: exit code $rc, want 143"
grep -q "resuming $out: $first of $n cells finished earlier" "$tmp/stderr" || fail "no resume message"
grep -q "interrupted (SIGTERM)" "$tmp/stderr" || fail "no interrupt message"
check_whole
second=$(rows)
[ "$second" -ge $((first + 2)) ] && [ "$second" -lt $n ] || fail "after SIGTERM: $second rows, want $((first + 2))..$((n - 1))"
medians >"$tmp/m2"
comm -23 "$tmp/m1" "$tmp/m2" | grep . && fail "rows of the first run changed"

# 3. Resume to the end: only the missing cells run.
"$cli" bench --resume "$out" -q >"$tmp/stdout" 2>"$tmp/stderr"; rc=$?
cat "$tmp/stdout" "$tmp/stderr"
[ $rc -eq 0 ] || fail "final resume: exit code $rc"
grep -q "resumed: $second cells kept from the earlier run, $((n - second)) run now" "$tmp/stdout" || fail "resume count"
[ "$(rows)" -eq $n ] || fail "$(rows) rows at the end, want $n"
medians >"$tmp/m3"
comm -23 "$tmp/m2" "$tmp/m3" | grep . && fail "rows of earlier runs changed"
check_whole
python3 - "$out" $n <<'PY' || fail "final files"
import csv, json, os, sys
out, n = sys.argv[1], int(sys.argv[2])
rows = list(csv.DictReader(open(os.path.join(out, "summary.csv"))))
assert [int(r["seq_len"]) for r in rows] == list(range(8, 48, 4)), "rows not in sweep order"
assert all(r["status"] == "PASS" and float(r["median_s"]) > 0 for r in rows)
bench = json.load(open(os.path.join(out, "bench.json")))
iters = [b for b in bench["benchmarks"] if b.get("run_type") == "iteration"]
assert len(iters) == n * 3, f"{len(iters)} iteration entries, want {n * 3}: a cell timed twice or lost"
env = json.load(open(os.path.join(out, "env.json")))
assert len(env["resumes"]) == 2 and "sgemm_gflops" in env["resumes"][0]
assert "Resumed" in open(os.path.join(out, "report.md")).read()
PY
echo ok
