#!/usr/bin/env bash
# bench --isolate: a backend that segfaults or hangs is a CRASHED / TIMEOUT row with the reason,
# the other backends are still validated and timed, and every output file is whole.
# Usage: bench_isolate_test.sh ATTNBENCH_CLI TEST_PLUGIN_DIR
set -u
cli=$1
dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
out=$tmp/run
# mutant-segv / mutant-hang pass T=8 and crash / hang at T=17.
"$cli" bench --isolate --timeout 4 --plugin "$dir/mutant-segv.so" --plugin "$dir/mutant-hang.so" \
  --backends mutant-segv,naive,mutant-hang --variant mha --seq-len 8,17 --heads 1 --batch 1 --d-in 16 --d-out 16 \
  --threads 1 --dropout 0 --qkv-bias 0 --sgemm-size 64 --benchmark_min_time=0.01 --benchmark_repetitions=2 \
  --out "$out" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
cat "$tmp/stdout" "$tmp/stderr"
[ $rc -eq 1 ] || fail "exit code $rc, want 1 (a CRASHED / TIMEOUT cell)"
python3 - "$out" <<'PY' || exit 1
import csv, json, os, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(out, "summary.csv"))))
got = {(r["backend"], int(r["seq_len"])): r for r in rows}
def want(key, status, text=""):
    r = got.get(key)
    assert r is not None, f"no row for {key}"
    assert r["status"] == status, f"{key}: {r['status']} ({r['reason']}), want {status}"
    assert text in r["reason"], f"{key}: reason {r['reason']!r} lacks {text!r}"
    return r
assert len(rows) == 6, f"{len(rows)} rows, want 6"
# Under AddressSanitizer the SIGSEGV is caught by ASan, which exits with code 1.
want(("mutant-segv", 17), "CRASHED", "exited with code" if os.environ.get("ATTNBENCH_SANITIZED") else "SIGSEGV")
want(("mutant-hang", 17), "TIMEOUT", "no result after 4 s")
for key in [("naive", 8), ("naive", 17), ("mutant-segv", 8), ("mutant-hang", 8)]:
    r = want(key, "PASS")
    assert float(r["median_s"]) > 0 and int(r["repetitions"]) == 2, r
# sweep order is kept: config-major, backends as given
assert [(r["backend"], r["seq_len"]) for r in rows][:3] == [("mutant-segv", "8"), ("naive", "8"), ("mutant-hang", "8")]
bench = json.load(open(os.path.join(out, "bench.json")))
assert "num_cpus" in bench["context"], bench["context"]
iters = [b for b in bench["benchmarks"] if b.get("run_type") == "iteration"]
assert len(iters) == 4 * 2, f"{len(iters)} iteration entries, want 8 (4 timed cells x 2 repetitions)"
assert len({b["name"] + str(b.get("repetition_index")) for b in iters}) == len(iters), "duplicate entries"
env = json.load(open(os.path.join(out, "env.json")))
assert env["isolation"]["enabled"] is True
report = open(os.path.join(out, "report.md")).read()
assert "CRASHED" in report and "TIMEOUT" in report and "Isolation" in report
assert not [f for f in os.listdir(out) if ".tmp." in f], os.listdir(out)
PY
echo ok
