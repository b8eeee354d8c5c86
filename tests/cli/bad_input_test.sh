#!/usr/bin/env bash
# Every bad input: exit code 2, one clear message naming the bad value, nothing written.
# Usage: bad_input_test.sh ATTNBENCH_CLI
set -u
cli=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect_bad "message substring" args...
expect_bad() {
  local want=$1
  shift
  local out rc
  out=$("$cli" "$@" 2>&1 >/dev/null)
  rc=$?
  if [ $rc -ne 2 ]; then
    echo "FAIL: attnbench $* -> exit $rc, want 2 ($out)"
    fails=$((fails + 1))
  elif ! grep -qF -- "$want" <<<"$out"; then
    echo "FAIL: attnbench $* -> message '$out' lacks '$want'"
    fails=$((fails + 1))
  elif [ "$(wc -l <<<"$out")" -gt 2 ]; then
    echo "FAIL: attnbench $* -> more than one line of error: $out"
    fails=$((fails + 1))
  else
    echo "ok: attnbench $* -> $out"
  fi
}

v="validate --backends naive"
expect_bad "d-out 10 is not divisible by heads 3" $v --d-out 10 --heads 3 --variant mha
expect_bad "--seq-len: 0 is out of range" $v --seq-len 0
expect_bad "--seq-len: -5 is out of range" $v --seq-len=-5
expect_bad "--batch: 'abc' is not an integer" $v --batch abc
expect_bad "--heads: duplicate value '2'" $v --heads 2,2
expect_bad "--seq-len: empty" $v --seq-len ""
expect_bad "unknown variant 'flash'" $v --variant flash
expect_bad "--dropout: 1.000000 is outside [0, 1)" $v --dropout 1
expect_bad "is outside [0, 1)" $v --dropout=-0.1
expect_bad "--dropout: 'x' is not a number" $v --dropout x
expect_bad "MiB available" $v --variant mha --batch 1000000 --seq-len 1000000 --d-in 1000 --d-out 1000 --heads 1
# Issue 14's keys: grouped-query heads, sliding window, KV cache.
expect_bad "kv-heads 4 does not divide heads 6" $v --variant mha --heads 6 --d-in 12 --d-out 12 --kv-heads 4
expect_bad "--kv-heads: 0 is out of range" $v --variant mha --kv-heads 0
expect_bad "--window: -1 is out of range" $v --variant mha --window=-1
expect_bad "a sliding window needs the causal mask" $v --variant mha --window 4 --no-causal
expect_bad "--past-len: -1 is out of range" $v --variant mha --past-len=-1
# A cache of 2 x 64 x 8 x 1000000 x 128 floats (0.5 TB): refused by the memory check before any
# allocation, so this returns at once (the test takes milliseconds, not a swap storm).
expect_bad "MiB available" $v --variant mha --seq-len 1 --batch 64 --heads 32 --kv-heads 8 --d-in 4096 --d-out 4096 --past-len 1000000
expect_bad "unknown backend 'nope'" validate --backends nope
expect_bad "--threads: must be >= 1" $v --threads 0
expect_bad "--plugin refused" $v --plugin "$tmp/missing.so"
expect_bad "'a b' is not a backend name" $v --plugin "a b=$tmp/x.so"
expect_bad "no file after '='" $v --plugin "fused-old="
expect_bad "duplicate backend name 'naive'" $v --plugin "naive=$(dirname "$cli")/plugins/libattnbench-highway.so"
expect_bad "run takes one problem" run --backend naive --seq-len 3,4
expect_bad "'banana' is not an integer" $v --seed banana
expect_bad "The following argument was not expected" validate --no-such-flag

# Files: corrupt, wrong dtype, wrong shape, missing weights, unwritable dump directory.
printf 'not numpy at all' >"$tmp/corrupt.npy"
expect_bad "corrupt.npy: not a .npy file (bad magic)" run --backend naive --input "$tmp/corrupt.npy"
"$cli" run --backend naive --variant mha --seq-len 4 --heads 2 --d-in 6 --d-out 6 --dump "$tmp/ok" >/dev/null
# The files set the sizes they hold; a flag that says otherwise is refused, naming both.
expect_bad "--seq-len 5 conflicts with --input $tmp/ok/x.npy of shape (1, 4, 6) (seq-len = 4)" run --backend naive --variant mha --seq-len 5 --heads 2 --d-in 6 --d-out 6 --input "$tmp/ok/x.npy"
expect_bad "--d-out 8 conflicts with --weights $tmp/ok/w_q.npy of shape (6, 6) (d-out = 6)" run --backend naive --variant mha --heads 2 --d-out 8 --weights "$tmp/ok"
head -c 140 "$tmp/ok/x.npy" >"$tmp/truncated.npy"
expect_bad "truncated" run --backend naive --variant mha --seq-len 4 --heads 2 --d-in 6 --d-out 6 --input "$tmp/truncated.npy"
/usr/bin/python3 -c "import numpy as np; np.save('$tmp/f64.npy', np.zeros((1,4,6)))" 2>/dev/null &&
  expect_bad "dtype '<f8', expected float32" run --backend naive --variant mha --seq-len 4 --heads 2 --d-in 6 --d-out 6 --input "$tmp/f64.npy"
mkdir -p "$tmp/partial" && cp "$tmp/ok/w_q.npy" "$tmp/partial/"
expect_bad "w_k.npy is missing" run --backend naive --variant mha --seq-len 4 --heads 2 --d-in 6 --d-out 6 --weights "$tmp/partial"
touch "$tmp/a-file"
expect_bad "--dump: cannot write to directory" run --backend naive --dump "$tmp/a-file/sub"
[ -e "$tmp/a-file/sub" ] && { echo "FAIL: left something behind"; fails=$((fails + 1)); }

# --help on every command exits 0 and prints usage.
for c in "" list validate run; do
  if ! "$cli" $c --help | grep -q "Usage"; then
    echo "FAIL: attnbench $c --help"
    fails=$((fails + 1))
  fi
done
echo "$fails failure(s)"
[ $fails -eq 0 ]
