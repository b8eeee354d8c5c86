#!/usr/bin/env bash
# Issue 17, rows 8, 9 and 12 (what a run does with a plugin's exit() and a careless user's input):
#  - bench in process: a backend's exit(0) mid-cell is exit code 1 with the resume hint;
#  - compare: a cell timed in A that vanished or stopped passing in B is a failure (exit 1 with
#    --fail-above); a zero time in bench.json is exit 2 with the reason, no traceback;
#  - a preset seed that would wrap is refused like --seed;
#  - run --input with a NaN / Inf is bad input (exit 2), all-denormal input is not a FAIL of naive;
#  - resuming a run whose env.json was deleted is refused with the reason, not a silent loss;
#  - the budget message shows the real estimate, never "~0s > --budget 0.02s".
# Usage: hostile_inputs_test.sh ATTNBENCH_CLI TEST_PLUGIN_DIR
set -u
cli=$1
dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
one_line() { [ "$(grep -c . "$1")" -eq 1 ] || fail "$2: want one line on stderr, got: $(cat "$1")"; }
tiny=(--variant mha --heads 1 --batch 1 --d-in 8 --d-out 8 --threads 1 --dropout 0 --qkv-bias 0 --sgemm-size 64
      --benchmark_min_time=0.001 --benchmark_repetitions=2 -q)

# Row 8: in process, hostile-forge calls exit(0) in its T = 17 cell.
"$cli" bench "${tiny[@]}" --plugin "$dir/hostile-forge.so" --backends naive,hostile-forge --seq-len 3,17 \
  --out "$tmp/ex" >/dev/null 2>"$tmp/ex.err"
rc=$?
cat "$tmp/ex.err"
[ $rc -eq 1 ] || fail "bench with a backend calling exit(0): exit $rc, want 1"
grep -q "hostile-forge/mha.*ended the process.*bench --resume $tmp/ex" "$tmp/ex.err" || fail "no line with the resume hint"

# Row 8: compare counts cells that vanished or stopped passing.
"$cli" bench "${tiny[@]}" --backends naive --seq-len 3,5 --out "$tmp/a" >/dev/null 2>&1 || fail "bench A"
cp -r "$tmp/a" "$tmp/gone"
head -2 "$tmp/a/summary.csv" >"$tmp/gone/summary.csv"  # the T = 5 cell vanished
"$cli" compare "$tmp/a" "$tmp/gone" --fail-above 50 >"$tmp/c.out" 2>&1
rc=$?
[ $rc -eq 1 ] || fail "compare with a vanished cell: exit $rc, want 1: $(cat "$tmp/c.out")"
grep -q "1 cell(s) timed in A are not timed in B" "$tmp/c.out" || fail "no count of lost cells: $(cat "$tmp/c.out")"
cp -r "$tmp/a" "$tmp/failed"
sed -i '3s/,PASS,/,CRASHED,/' "$tmp/failed/summary.csv"
grep -q ",CRASHED," "$tmp/failed/summary.csv" || fail "test setup: no status column to edit"
"$cli" compare "$tmp/a" "$tmp/failed" --fail-above 50 >"$tmp/c.out" 2>&1
[ $? -eq 1 ] || fail "compare with a cell PASS -> CRASHED must be exit 1: $(cat "$tmp/c.out")"
"$cli" compare "$tmp/a" "$tmp/a" --fail-above 50 >"$tmp/c.out" 2>&1 || fail "compare A with itself: $(cat "$tmp/c.out")"

# Row 9: a zero median (a zero time) is bad input, one line, no traceback.
cp -r "$tmp/a" "$tmp/zero"
python3 - "$tmp/zero/bench.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for b in d["benchmarks"]:
    b["real_time"] = 0
json.dump(d, open(sys.argv[1], "w"))
PY
"$cli" compare "$tmp/a" "$tmp/zero" >/dev/null 2>"$tmp/z.err"
rc=$?
[ $rc -eq 2 ] || fail "compare with zero times: exit $rc, want 2: $(cat "$tmp/z.err")"
one_line "$tmp/z.err" "compare with zero times"
grep -q "real_time 0" "$tmp/z.err" || fail "the reason should name the time: $(cat "$tmp/z.err")"

# Row 12: a seed in a preset is checked like --seed.
for seed in -1 18446744073709551616 1e23 0x10; do
  printf '[a]\nseq-len = 8\nseed = %s\n' "$seed" >"$tmp/seed.preset"
  "$cli" bench --preset "$tmp/seed.preset" --out "$tmp/s" --dry-run >/dev/null 2>"$tmp/s.err"
  rc=$?
  [ $rc -eq 2 ] || fail "preset seed '$seed': exit $rc, want 2"
  one_line "$tmp/s.err" "preset seed '$seed'"
  grep -q "seed" "$tmp/s.err" || fail "the refusal should name the key: $(cat "$tmp/s.err")"
done
printf '[a]\nseq-len = 8\nseed = 18446744073709551615\n' >"$tmp/seed.preset"
"$cli" bench --preset "$tmp/seed.preset" --out "$tmp/s" --dry-run >/dev/null 2>&1 || fail "the largest seed is a seed"

# Row 12: NaN / Inf in run --input is bad input; all-denormal input is no FAIL of the correct naive.
# .npy written by hand: numpy is not needed for this test.
python3 - "$tmp" <<'PY'
import math, random, struct, sys
def save(path, vals, shape):
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % "".join(f"{s}, " for s in shape)
    hdr += " " * (63 - (10 + len(hdr)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
        f.write(struct.pack(f"<{len(vals)}f", *vals))
r = random.Random(1)
x = [r.gauss(0, 1) for _ in range(40)]
for name, v in (("nan", math.nan), ("inf", -math.inf)):
    save(f"{sys.argv[1]}/{name}.npy", x[:26] + [v] + x[27:], (1, 5, 8))
# T = 256: the float32 rounding of denormal products used to exceed the relative tolerance.
save(f"{sys.argv[1]}/denormal.npy", [r.gauss(0, 1) * 1e-39 for _ in range(256 * 16)], (1, 256, 16))
PY
for bad in nan inf; do
  "$cli" run --backend naive --variant mha --heads 1 --input "$tmp/$bad.npy" >/dev/null 2>"$tmp/r.err"
  rc=$?
  [ $rc -eq 2 ] || fail "run --input with $bad: exit $rc, want 2"
  one_line "$tmp/r.err" "run --input with $bad"
  grep -q "x\[26\]" "$tmp/r.err" || fail "the refusal should name the element: $(cat "$tmp/r.err")"
done
for variant in self mha; do
  "$cli" run --backend naive --variant $variant --heads 1 --input "$tmp/denormal.npy" --data-seed 3 >"$tmp/d.out" 2>&1
  rc=$?
  [ $rc -eq 0 ] || fail "naive on all-denormal input ($variant): exit $rc: $(cat "$tmp/d.out")"
done
grep -q "^MISTRUSTED" "$tmp/d.out" || fail "all-denormal input: a zeros backend would pass it, want MISTRUSTED: $(cat "$tmp/d.out")"

# Row 12: deleting env.json and resuming does not silently drop the kept cells.
cp -r "$tmp/a" "$tmp/noenv"
rm "$tmp/noenv/env.json"
"$cli" bench --resume "$tmp/noenv" -q >/dev/null 2>"$tmp/e.err"
rc=$?
[ $rc -eq 2 ] || fail "resume without env.json: exit $rc, want 2"
one_line "$tmp/e.err" "resume without env.json"
grep -q "env.json is missing.*2 finished cells" "$tmp/e.err" || fail "no reason: $(cat "$tmp/e.err")"
[ "$(grep -c . "$tmp/noenv/summary.csv")" -eq 3 ] || fail "the refused resume changed summary.csv"

# Row 12: the budget message has digits: one cell of ~0.03 s predicted against --budget 0.02.
"$cli" bench --variant mha --heads 1 --batch 1 --d-in 8 --d-out 8 --threads 1 --dropout 0 --qkv-bias 0 --sgemm-size 64 \
  --backends naive --seq-len 3 --budget 0.02 --benchmark_min_time=0.01 --benchmark_repetitions=2 -q \
  --out "$tmp/budget" >/dev/null 2>&1
reason=$(python3 -c "import csv,sys; print(next(csv.DictReader(open(sys.argv[1])))['reason'])" "$tmp/budget/summary.csv")
echo "budget: $reason"
case "$reason" in
  *"~0s "*) fail "the budget message rounds the estimate to 0: $reason" ;;
  *"> --budget 0.02s"*) ;;
  *) fail "want a too-slow cell against --budget 0.02: $reason" ;;
esac
echo ok
