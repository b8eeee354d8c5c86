#!/usr/bin/env bash
# The history survives kill -9: a bench killed mid-sweep, and a bench killed inside its history
# transaction (held open by the test hook ATTNBENCH_TEST_HISTORY_PAUSE_AFTER, history.cpp), leave
# the database consistent (PRAGMA integrity_check: ok) with only the runs that finished; the
# killed run, resumed to its end, is then recorded whole.
# Usage: history_kill_test.sh ATTNBENCH_CLI
set -u
cli=$1
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
command -v sqlite3 >/dev/null || { echo "SKIP: no sqlite3 command (scripts/setup installs it)"; exit 77; }
db=$tmp/hist.db
n=8
sweep=(--backends naive --variant mha --seq-len 8,12,16,20,24,28,32,36 --heads 2 --batch 1 --d-in 16 --d-out 16
       --threads 1 --dropout 0 --qkv-bias 0 --sgemm-size 64 --benchmark_min_time=0.05 --benchmark_repetitions=2 -q
       --db "$db")
rows() { [ -f "$1/summary.csv" ] && echo $(($(wc -l <"$1/summary.csv") - 1)) || echo 0; }
runs() { "$cli" history --db "$db" --json | python3 -c 'import json,sys; r=json.load(sys.stdin); print(len(r), sum(x["cells"] for x in r))'; }
check_db() {
  [ "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check: $(sqlite3 "$db" 'PRAGMA integrity_check')"
  [ "$(runs)" = "$1" ] || fail "history lists '$(runs)' (runs, cells), want '$1'"
}

# 1. A whole run: recorded.
"$cli" bench "${sweep[@]}" --out "$tmp/a" >/dev/null || fail "first run"
check_db "1 $n"

# 2. kill -9 in the middle of the sweep: nothing of it in the history.
"$cli" bench "${sweep[@]}" --out "$tmp/b" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 400); do [ "$(rows "$tmp/b")" -ge 2 ] && break; sleep 0.05; done
kill -9 $pid; wait $pid 2>/dev/null; pid=
r=$(rows "$tmp/b")
[ "$r" -ge 2 ] && [ "$r" -lt $n ] || fail "the kill did not land mid-sweep ($r of $n rows)"
check_db "1 $n"

# 3. kill -9 inside the transaction that records the run (after 3 of its cells are written).
ATTNBENCH_TEST_HISTORY_PAUSE_AFTER=3 "$cli" bench --resume "$tmp/b" -q --db "$db" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -f "$db.paused" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.05; done
[ -f "$db.paused" ] || fail "the bench never reached its history transaction"
kill -9 $pid; wait $pid 2>/dev/null; pid=
[ "$(rows "$tmp/b")" -eq $n ] || fail "the resumed sweep did not finish before recording"
check_db "1 $n"

# 4. Resumed once more: recorded, whole.
"$cli" bench --resume "$tmp/b" -q --db "$db" >/dev/null || fail "last resume"
check_db "2 $((2 * n))"
# Recording the same run again replaces it (same uid), never doubles it.
"$cli" bench --resume "$tmp/b" -q --db "$db" >/dev/null || fail "resume of a finished run"
check_db "2 $((2 * n))"
# --db that cannot be opened: exit 2 before anything runs; --no-db records nothing.
"$cli" bench "${sweep[@]}" --out "$tmp/c" --db /proc/nope/x.db >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && [ ! -f "$tmp/c/summary.csv" ] || fail "--db unopenable: exit $rc: $(cat "$tmp/err")"
"$cli" bench "${sweep[@]}" --data-seed 2 --out "$tmp/d" --no-db >/dev/null || fail "--no-db run"
check_db "2 $((2 * n))"
echo ok
