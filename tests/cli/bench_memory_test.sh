#!/usr/bin/env bash
# Measured memory (issue 12): a backend that allocates 64 MiB in run, or holds 64 MiB from
# prepare, without claiming it is flagged in summary.csv and report.md (in-process and under
# --isolate); the same code without the hog (mutant-none) is not, and its measured figure is
# within the margin of its claim. PASS either way: memory is reported, not judged as wrong output.
# Usage: bench_memory_test.sh ATTNBENCH_CLI TEST_PLUGIN_DIR
set -u
cli=$1
dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
for mode in inprocess isolate; do
  extra=()
  [ $mode = isolate ] && extra=(--isolate --timeout 60)
  "$cli" bench -q "${extra[@]}" --plugin "$dir/mutant-none.so" --plugin "$dir/mutant-hogrun.so" \
    --plugin "$dir/mutant-hoghold.so" --backends mutant-none,mutant-hogrun,mutant-hoghold \
    --variant self --seq-len 16 --d-in 32 --d-out 32 --heads 1 --threads 1 --budget 5 --cache warm --sgemm-size 64 \
    --benchmark_min_time=0.01 --benchmark_repetitions=2 --out "$tmp/$mode" >"$tmp/$mode.log" 2>&1 \
    || { cat "$tmp/$mode.log"; fail "$mode: bench exited $?"; }
  /usr/bin/python3 - "$tmp/$mode/summary.csv" "${ATTNBENCH_SANITIZED:-0}" <<'PY' || fail "$mode: summary.csv"
import csv, sys
rows = {r["backend"]: r for r in csv.DictReader(open(sys.argv[1]))}
sanitized = sys.argv[2] == "1"
for hog in ("mutant-hogrun", "mutant-hoghold"):
    r = rows[hog]
    assert r["status"] == "PASS", (hog, r["status"], r["reason"])
    assert int(r["measured_bytes"]) >= 60 << 20, (hog, r["measured_bytes"])
    assert "measured in prepare + run" in r["memory_flag"], (hog, r["memory_flag"])
none = rows["mutant-none"]
assert none["status"] == "PASS"
# Under ASan the allocator's quarantine and shadow memory inflate RSS: only the hogs are judged.
if not sanitized:
    assert none["memory_flag"] == "", none["memory_flag"]
    assert int(none["measured_bytes"]) < 8 << 20, none["measured_bytes"]
print("ok", {b: (r["measured_bytes"], r["workspace_bytes"]) for b, r in rows.items()})
PY
  grep -q "memory over claim" "$tmp/$mode/report.md" || fail "$mode: report.md has no memory flag"
  grep -Eq "\| mutant-hogrun \| .* \| memory over claim \| [0-9]+\.[0-9] MiB measured" "$tmp/$mode/report.md" \
    || fail "$mode: the flag does not name the measured size"
done
echo ok
