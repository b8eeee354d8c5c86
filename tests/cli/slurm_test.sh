#!/usr/bin/env bash
# A real single-node Slurm (tests/cli/slurm_lib.sh: munged, slurmctld, slurmd from Debian's
# packages, a generated slurm.conf, all in a temporary directory, stopped on exit): 
# scripts/slurm-bench submits a sweep as a job array of 3 shards and a dependent merge job; the
# merged run must hold every cell exactly once with the same statuses as the same sweep run in
# one process, each shard a complete run directory, and the history the 3 shards and the merge.
# SKIPPED (77) only where Slurm cannot run at all (not installed, not root).
# Usage: slurm_test.sh ATTNBENCH_CLI PROJECT_SOURCE_DIR
set -u
cli=$1
src=$2
tmp=$(mktemp -d)
source "$src/tests/cli/slurm_lib.sh"
trap 'slurm_down; rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*"
  for f in "$tmp"/slurm/log/*.log "$tmp"/run/slurm/*.out; do [ -f "$f" ] && { echo "== $f"; tail -n 20 "$f"; }; done
  exit 1
}
# The submit script's own checks (no Slurm needed): --help, bad input exits 2, and the sbatch
# lines it would run (array size, exclusive nodes, cores per task, options passed through).
"$src/scripts/slurm-bench" --help | grep -q "job array" || fail "slurm-bench --help"
"$src/scripts/slurm-bench" --shards 0 --out "$tmp/x" --attnbench "$cli" 2>/dev/null; [ $? -eq 2 ] || fail "--shards 0"
"$src/scripts/slurm-bench" --shards 2 --out "$tmp/x" --attnbench "$cli" -- --shard 1/2 2>/dev/null
[ $? -eq 2 ] || fail "--shard among the bench arguments"
"$src/scripts/slurm-bench" --shards 4 --out "$tmp/dry" --threads 2 --attnbench "$cli" --partition bench --time 30 \
  --sbatch --mem=0 --dry-run -- --seq-len 8 >"$tmp/dry.txt" || fail "--dry-run"
grep -q -- "--array=0-3 --exclusive .*--partition=bench --time=30 --mem=0 --cpus-per-task=2 " "$tmp/dry.txt" &&
  grep -q -- "--dependency=afterok:ARRAY_ID" "$tmp/dry.txt" && grep -q -- '--threads 2 --seq-len 8 *--shard "$i/4"' "$tmp/dry.txt" ||
  fail "--dry-run sbatch lines: $(cat "$tmp/dry.txt")"

mkdir "$tmp/slurm"
slurm_up "$tmp/slurm"
rc=$?
[ $rc -eq 0 ] || exit $rc
shards=3
sweep=(--backends naive,openmp --variant mha --seq-len 1,3,17,65 --heads 1,3 --batch 1 --d-in 12 --d-out 12
       --dropout 0 --qkv-bias 0 --sgemm-size 64 --benchmark_min_time=0.005 --benchmark_repetitions=2)
n=16
"$cli" bench "${sweep[@]}" --threads 1 --out "$tmp/single" --no-db -q >/dev/null || fail "single-process run"

cd "$tmp"
"$src/scripts/slurm-bench" --shards $shards --out "$tmp/run" --threads 1 --attnbench "$cli" --db "$tmp/hist.db" \
  --time 10 -- "${sweep[@]}" >submit.txt 2>&1 || fail "slurm-bench: $(cat submit.txt)"
array=$(awk '/^array /{print $2}' submit.txt)
merge=$(awk '/^merge /{print $2}' submit.txt)
[ -n "$array" ] && [ -n "$merge" ] || fail "no job ids: $(cat submit.txt)"
for _ in $(seq 1 600); do
  [ -z "$(squeue -h -j "$array,$merge" -o %i 2>/dev/null)" ] && break
  squeue -h -j "$merge" -o %r 2>/dev/null | grep -q DependencyNeverSatisfied && fail "an array task failed: the merge cannot run"
  sleep 0.2
done
[ -z "$(squeue -h -j "$array,$merge" -o %i 2>/dev/null)" ] && echo "jobs done" || fail "jobs still queued after 120 s: $(squeue)"
state() { scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | sort -u | tr '\n' ' '; }
echo "array: $(state "$array"); merge: $(state "$merge")"
[ "$(state "$merge")" = "JobState=COMPLETED " ] || fail "merge job: $(state "$merge")"
[ "$(state "$array")" = "JobState=COMPLETED " ] || fail "array tasks: $(state "$array")"
python3 - "$tmp/single" "$tmp/run" $n $shards <<'PY' || fail "merged result"
import csv, json, os, sys
single, run, n, shards = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = lambda d: list(csv.DictReader(open(os.path.join(d, "summary.csv"))))
a, b = rows(single), rows(os.path.join(run, "merged"))
names = [r["name"] for r in b]
assert len(b) == n and len(set(names)) == n, f"{len(b)} rows, {len(set(names))} distinct, want {n} once each"
assert sorted((r["name"], r["status"]) for r in a) == sorted((r["name"], r["status"]) for r in b), "cells or statuses differ"
assert names == [r["name"] for r in a], "not in sweep order"
total = 0
for i in range(shards):
    d = os.path.join(run, f"shard-{i}")
    s = json.load(open(os.path.join(d, "sweep.json")))
    assert s["spec"]["shard"] == {"index": i, "count": shards}
    assert os.path.exists(os.path.join(d, "env.json")) and os.path.exists(os.path.join(d, "report.md"))
    total += len(rows(d))
assert total == n, f"shards hold {total} rows"
assert 'shard "$i/3"' in open(os.path.join(run, "slurm", "bench.sbatch")).read()
env = json.load(open(os.path.join(run, "merged", "env.json")))
assert len(env["shards"]) == shards
print(f"merged: {n} cells, statuses {sorted({r['status'] for r in b})}, same as the single-process run")
PY
"$cli" history --db "$tmp/hist.db" --json | python3 -c '
import json, sys
kinds = sorted(r["kind"] for r in json.load(sys.stdin))
assert kinds == ["merge", "shard", "shard", "shard"], kinds' || fail "history after the Slurm run"
echo ok
