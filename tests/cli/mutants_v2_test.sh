#!/usr/bin/env bash
# Issue 14: the checks can fail on the new forms. On a grid over kv-heads, window and past-len
# (odd sizes, dropout keyed by absolute positions) the control mutant-none, which computes every
# form as the reference does, PASSes every cell, and each of the three new mutants (a window one
# key too wide, KV heads dealt out h % kv_heads, the causal mask ignoring the cache) FAILs at
# least one, with exit code 1; no cell of any of them is UNSUPPORTED (the mutants opt in to ABI
# version 2's forms).
# Usage: mutants_v2_test.sh ATTNBENCH_CLI TEST_PLUGIN_DIR
set -u
cli=$1
dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

grid=(--variant causal,mha --seq-len 1,3,17 --heads 6 --kv-heads 1,2,3,6 --window 0,4 --past-len 0,5
      --d-in 24 --d-out 36 --batch 2 --dropout 0.3 --qkv-bias 1)
run() {  # run KIND...: validate --json of the mutants of those kinds, into $tmp/KIND1.json
  local args=() names=() k
  for k in "$@"; do
    args+=(--plugin "$dir/mutant-$k.so")
    names+=("mutant-${k//_/-}")
  done
  "$cli" validate --json -q "${args[@]}" --backends "$(IFS=,; echo "${names[*]}")" "${grid[@]}" >"$tmp/$1.json" 2>"$tmp/$1.err"
}

run none
rc=$?
[ $rc -eq 0 ] || { cat "$tmp/none.err"; fail "mutant-none: exit code $rc, want 0 (every cell PASS)"; }
run window_off_by_one kv_map cache_offset
rc=$?
[ $rc -eq 1 ] || { cat "$tmp/window_off_by_one.err"; fail "the new mutants: exit code $rc, want 1 (FAILs)"; }
python3 - "$tmp/none.json" "$tmp/window_off_by_one.json" <<'PY' || exit 1
import collections, json, sys
control, mutants = (json.load(open(f))["results"] for f in sys.argv[1:])
by = collections.defaultdict(collections.Counter)
for r in control + mutants:
    by[r["backend"]][r["status"]] += 1
print({b: dict(c) for b, c in sorted(by.items())})
assert set(by["mutant-none"]) == {"PASS"} and by["mutant-none"]["PASS"] >= 90, by["mutant-none"]
# Each mutant fails where its bug shows, and passes where it cannot (e.g. kv_map with
# kv-heads 1 or 6, cache_offset without a cache): the grid covers both.
for m, where in (("mutant-window-off-by-one", lambda r: int(r["window"]) > 0),
                 ("mutant-kv-map", lambda r: int(r["kv_heads"]) in (2, 3)),
                 ("mutant-cache-offset", lambda r: int(r["past_len"]) > 0)):
    rows = [r for r in mutants if r["backend"] == m]
    assert len(rows) == by["mutant-none"]["PASS"], (m, len(rows))
    assert by[m]["UNSUPPORTED"] == 0, (m, by[m])
    assert by[m]["FAIL"] > 0 and by[m]["PASS"] > 0, (m, by[m])
    assert all(r["status"] == "PASS" for r in rows if not where(r)), m + " failed where its bug cannot show"
PY
echo "PASS: mutant-none passes the kv-heads/window/past-len grid; window-off-by-one, kv-map, cache-offset fail it"
