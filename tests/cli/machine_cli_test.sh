#!/usr/bin/env bash
# `attnbench machine`: --help, bad input (exit 2, one line naming the value), the table and the
# JSON, the cache (second run reads it, --remeasure does not), the narrower-ISA BLAS warning with
# OPENBLAS_CORETYPE=Haswell on an AVX-512 CPU (and none without it). No timing asserted.
# Usage: machine_cli_test.sh ATTNBENCH_CLI
set -u
cli=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME=$tmp/cache
unset OPENBLAS_CORETYPE
fails=0
fail() {
  echo "FAIL: $*"
  fails=$((fails + 1))
}

"$cli" machine --help | grep -q "Usage" || fail "machine --help"
for bad in 0 -1 a 1,,2 "" 1.5 99999; do
  out=$("$cli" machine --threads "$bad" 2>&1 >/dev/null)
  rc=$?
  [ $rc -eq 2 ] || fail "--threads '$bad' -> exit $rc, want 2 ($out)"
  [ "$(wc -l <<<"$out")" -le 1 ] || fail "--threads '$bad' -> more than one line: $out"
  grep -q -- "--threads" <<<"$out" || fail "--threads '$bad' -> message lacks --threads: $out"
done
"$cli" machine --no-such-flag >/dev/null 2>&1
[ $? -eq 2 ] || fail "unknown flag: want exit 2"

"$cli" machine --threads 1 >"$tmp/first.txt" 2>"$tmp/first.err" || fail "first run: exit $?"
grep -q "^Measured: " "$tmp/first.txt" || fail "first run did not measure: $(cat "$tmp/first.txt")"
for want in "FMA peak, GFLOP/s" "triad a=b+s\*c" "read sum" "Clock:" "BLAS:"; do
  grep -q "$want" "$tmp/first.txt" || fail "table lacks '$want'"
done
busy=0
if grep -q "not cached: the machine looked busy" "$tmp/first.txt"; then
  # Measured while other work had the cores (or in the sanitizer build, whose instrumented
  # kernels give meaningless rates): such a profile is not cached, says why, and is measured again.
  busy=1
  ls "$XDG_CACHE_HOME"/attnbench/machine-*.json >/dev/null 2>&1 && fail "a disturbed profile was cached"
  "$cli" machine --threads 1 >"$tmp/second.txt" || fail "second run: exit $?"
  grep -q "^Measured: " "$tmp/second.txt" || fail "a disturbed profile was reused"
else
  ls "$XDG_CACHE_HOME"/attnbench/machine-*.json >/dev/null 2>&1 || fail "no cache file written"
  "$cli" machine --threads 1 >"$tmp/second.txt" || fail "second run"
  grep -q "^Cached: " "$tmp/second.txt" || fail "second run did not use the cache"
  # The same figures, from the cache.
  diff <(grep -v "^Cached\|^Measured" "$tmp/first.txt") <(grep -v "^Cached\|^Measured" "$tmp/second.txt") >/dev/null ||
    fail "cached table differs from the measured one"
fi
"$cli" machine --threads 1 --remeasure >"$tmp/third.txt" || fail "--remeasure"
grep -q "^Measured: " "$tmp/third.txt" || fail "--remeasure used the cache"

"$cli" machine --threads 1 --json >"$tmp/p.json" || fail "--json"
/usr/bin/python3 - "$tmp/p.json" "$busy" <<'PY' || fail "--json content"
import json, sys
p = json.load(open(sys.argv[1]))
# From the cache, unless the first profile looked disturbed (then a later one may or may not be).
assert sys.argv[2] == "1" or p["cache"]["from_cache"] is True, p["cache"]
assert p["fma_method"]["chains"] == 12
assert p["memory_method"]["buffer_bytes"] >= 256 << 20
assert p["memory_method"]["buffer_bytes"] >= 8 * p["memory_method"]["llc_bytes"] - 3 * 64
assert p["memory_method"]["write_allocate_counted"] is False
assert {f["threads"] for f in p["fma"]} == {1} and all(f["gflops"] > 0 for f in p["fma"])
assert {(b["kernel"], b["threads"]) for b in p["bandwidth"]} == {("triad", 1), ("read", 1)}
assert p["blas"]["kernel"]
PY

# The narrower-ISA warning: only with OPENBLAS_CORETYPE=Haswell, on an AVX-512 CPU.
if grep -qw avx512f /proc/cpuinfo; then
  OPENBLAS_CORETYPE=Haswell "$cli" machine --threads 1 2>"$tmp/haswell.err" >/dev/null || fail "Haswell run"
  grep -q "OPENBLAS_CORETYPE=Haswell is set" "$tmp/haswell.err" || fail "no warning with Haswell: $(cat "$tmp/haswell.err")"
  grep -q "WARNING" "$tmp/first.err" && fail "warning without OPENBLAS_CORETYPE: $(cat "$tmp/first.err")"
  # list (and validate, bench, env.json) say it too, without measuring anything.
  OPENBLAS_CORETYPE=Haswell "$cli" list 2>"$tmp/list.err" >/dev/null || fail "Haswell list"
  grep -q "'Haswell' kernel (AVX2) on this CPU with AVX-512" "$tmp/list.err" || fail "list: no warning with Haswell: $(cat "$tmp/list.err")"
  "$cli" list 2>"$tmp/list0.err" >/dev/null || fail "list"
  grep -q "WARNING" "$tmp/list0.err" && fail "list: warning without OPENBLAS_CORETYPE: $(cat "$tmp/list0.err")"
fi
# bench: the profile lands in env.json and report.md; ATTNBENCH_MACHINE_PROFILE gives one, and a
# bad one is exit 2 with one line naming the variable, before anything is timed.
tiny=(bench -q --backends naive --variant self --seq-len 4 --d-in 4 --d-out 4 --heads 1 --sgemm-size 16 --benchmark_min_time=0.001 --benchmark_repetitions=2)
"$cli" machine --threads 1 --json >"$tmp/profile.json" 2>/dev/null || fail "machine --json for bench"
ATTNBENCH_MACHINE_PROFILE="$tmp/profile.json" "$cli" "${tiny[@]}" --threads 1 --out "$tmp/given" 2>"$tmp/given.err" \
  || fail "bench with a given profile: $(cat "$tmp/given.err")"
/usr/bin/python3 - "$tmp/given" "$tmp/profile.json" <<'PY' || fail "env.json / report.md of a bench"
import csv, json, sys
env = json.load(open(sys.argv[1] + "/env.json"))
given = json.load(open(sys.argv[2]))
assert env["machine_source"]["note"] == "given by ATTNBENCH_MACHINE_PROFILE", env["machine_source"]
assert env["machine"]["fma"] == given["fma"]
row = next(csv.DictReader(open(sys.argv[1] + "/summary.csv")))
peak = max(f["gflops"] for f in given["fma"] if f["threads"] == 1)
assert abs(float(row["peak_gflops"]) - peak) < 1e-9 * peak, (row["peak_gflops"], peak)
assert 0 < float(row["pct_peak"]) <= 100 and float(row["intensity"]) > 0
md = open(sys.argv[1] + "/report.md").read()
assert "**Measured peaks**" in md and "% peak" in md and "% SGEMM" not in md
PY
for bad in "$tmp/no-such-file.json" "$tmp/first.err"; do
  ATTNBENCH_MACHINE_PROFILE="$bad" "$cli" "${tiny[@]}" --threads 1 --out "$(mktemp -d -p "$tmp")" 2>"$tmp/bad.err"
  rc=$?
  [ $rc -eq 2 ] || fail "bad ATTNBENCH_MACHINE_PROFILE=$bad: exit $rc, want 2"
  [ "$(wc -l <"$tmp/bad.err")" -eq 1 ] && grep -q ATTNBENCH_MACHINE_PROFILE "$tmp/bad.err" \
    || fail "bad profile: want one line naming the variable: $(cat "$tmp/bad.err")"
done
ATTNBENCH_MACHINE_PROFILE="$tmp/profile.json" "$cli" "${tiny[@]}" --threads 2 --out "$tmp/bad2" 2>"$tmp/bad.err"
[ $? -eq 2 ] && grep -q "no FMA peak at 2 thread" "$tmp/bad.err" || fail "a profile without the thread count: $(cat "$tmp/bad.err")"

echo "$fails failure(s)"
[ $fails -eq 0 ]
