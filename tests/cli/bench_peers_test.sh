#!/usr/bin/env bash
# `attnbench bench --peers`: the peer rows join the run (summary.csv, report.md, env.json), a
# peer that disagrees with the float64 reference is FAIL and not timed (exit 1), bad --peers
# values are refused before anything runs (exit 2), absent peers are listed with --peers auto.
# Uses the numpy test peers of peers/testing_peers.py (ATTNBENCH_PEERS_TESTING=1) with the system
# python, so it needs no framework; with ONNX Runtime in the peers venv it also runs that peer
# (ATTNBENCH_REQUIRE_PEERS=1, set by .ci/run, makes a missing venv a failure instead).
#   bench_peers_test.sh ATTNBENCH SOURCE_DIR
set -u
cli=$1; src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
sys_py=/usr/bin/python3
grid=(--backends blas,naive --variant simplified,self,causal,mha --seq-len 1,17 --heads 1,3 --d-in 12 --d-out 12
      --dropout 0,0.1 --qkv-bias 0 --threads 1 --budget 5 --sgemm-size 64
      --benchmark_repetitions=2 --benchmark_min_time=0.001 -q)

# 1. two correct peers and a wrong one in one run (numpy-f32-x rotates copies of x through one
# prepared peer, as ONNX Runtime does; it comes first, so its copies are called after the runner has
# prepared the others: they must call its own run, not the last one prepared).
out=$tmp/run
ATTNBENCH_PEERS_TESTING=1 "$cli" bench "${grid[@]}" --peers numpy-f32-x,numpy-f32,numpy-noscale \
  --peers-python "$sys_py" --out "$out" >"$tmp/log" 2>&1
rc=$?
[ $rc -eq 1 ] || { cat "$tmp/log"; fail "a FAILing peer must make the bench exit 1, got $rc"; }
ours=$(grep -c '^custom,\(blas\|naive\),' "$out/summary.csv")
good=$(grep -c '^custom,peer-numpy-f32,.*,PASS,' "$out/summary.csv")
bad_fail=$(grep -c '^custom,peer-numpy-noscale,.*,FAIL,relative L2 error' "$out/summary.csv")
[ "$ours" -eq 64 ] || fail "expected 64 backend rows, got $ours"
[ "$good" -eq 32 ] || fail "expected 32 PASS rows of the correct peer, got $good"
good_x=$(grep -c '^custom,peer-numpy-f32-x,.*,PASS,' "$out/summary.csv")
[ "$good_x" -eq 32 ] || { grep peer-numpy-f32-x "$out/summary.csv" | head -3; fail "expected 32 PASS rows of numpy-f32-x, got $good_x"; }
# The missing scale shows wherever there is a scale and more than one key: self/causal/mha, T=17.
[ "$bad_fail" -eq 12 ] || fail "expected 12 FAIL rows of the unscaled peer, got $bad_fail"
# A FAIL row is not timed: median_s (column 19) is 0.
awk -F, '$2=="peer-numpy-noscale" && $17=="FAIL" && $19!=0 {exit 1}' "$out/summary.csv" || fail "a FAIL peer row was timed"
# Peer rows follow the backends of their config (summary.csv is in sweep order).
first=$(grep -n 'peer-numpy-f32/mha/B:1/T:17/din:12/dout:12/H:3/threads:1/dropout:0.1,' "$out/summary.csv" | cut -d: -f1)
blas=$(grep -n ',blas/mha/B:1/T:17/din:12/dout:12/H:3/threads:1/dropout:0.1,' "$out/summary.csv" | cut -d: -f1)
[ -n "$first" ] && [ -n "$blas" ] && [ "$first" -gt "$blas" ] || fail "peer row not after its config's backend rows"
# The same FLOP model and derived columns: gflops > 0 and a speedup vs blas for the PASS rows.
awk -F, '$2=="peer-numpy-f32" && ($27<=0 || $31<=0) {exit 1}' "$out/summary.csv" || fail "peer rows lack gflops/speedup"
# The cold-cache policy reaches the peers: tiny configs cycle through many copies (column 33).
awk -F, '$2=="peer-numpy-f32" && $33<2 {exit 1}' "$out/summary.csv" || fail "peer rows without cache rotation"
grep -q '^- \*\*Peers\*\* .*`peer-numpy-f32` (.*version' "$out/report.md" || fail "report.md has no Peers line with versions"
grep -q '| peer-numpy-f32 | PASS |' "$out/report.md" || fail "report.md tables lack the peer rows"
grep -q '| peer-numpy-noscale | FAIL |' "$out/report.md" || fail "report.md tables lack the FAIL peer row"
"$sys_py" - "$out/env.json" <<'PY' || fail "env.json peers section"
import json, sys
p = json.load(open(sys.argv[1]))["peers"]
assert p["present"] == ["numpy-f32-x", "numpy-f32", "numpy-noscale"], p
assert p["info"]["numpy-f32"]["version"], p
PY
[ ! -e "$out/peers/inputs" ] || fail "the peers' input files were not removed"
# Timed in their config's rounds: each PASS row (backend or peer) has one time per round and the
# config's round_group, so report.md can pair them round by round.
"$sys_py" - "$out/summary.csv" <<'PY' || fail "peer rows not paired with their config's backends"
import csv, collections, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["status"] == "PASS"]
groups = collections.defaultdict(set)
for r in rows:
    assert r["round_group"], r["name"]
    assert len(r["repetition_s"].split(";")) == int(r["repetitions"]) == 2, (r["name"], r["repetition_s"])
    groups[r["name"].split("/", 1)[1]].add(r["round_group"])
assert all(len(g) == 1 for g in groups.values()), groups
assert len({next(iter(g)) for g in groups.values()}) == len(groups), "two configs share their rounds"
PY

# --benchmark_filter selects peer cells by name, as it does backend cells.
ATTNBENCH_PEERS_TESTING=1 "$cli" bench "${grid[@]}" --peers numpy-f32,numpy-noscale --peers-python "$sys_py" \
  --out "$tmp/filt" '--benchmark_filter=(blas|peer-numpy-f32)/mha/.*T:17/din:12/dout:12/H:3/' >"$tmp/log" 2>&1 ||
  { cat "$tmp/log"; fail "bench with --benchmark_filter and peers"; }
got=$(cut -d, -f2 "$tmp/filt/summary.csv" | tail -n +2 | sort | uniq -c | tr -s ' ' | tr '\n' ';')
[ "$got" = " 2 blas; 2 peer-numpy-f32;" ] || fail "--benchmark_filter with peers: rows per backend '$got'"

# 1b. Paced: each config's peers run right after its backends (progress order on stderr), in
# process and with --isolate (one worker per config then).
for mode in "" --isolate; do
  ATTNBENCH_PEERS_TESTING=1 "$cli" bench --backends blas --variant causal --seq-len 1,17 --heads 1 --d-in 12 \
    --d-out 12 --threads 1 --sgemm-size 64 --benchmark_repetitions=2 --benchmark_min_time=0.001 $mode \
    --peers numpy-f32 --peers-python "$sys_py" --out "$tmp/paced$mode" >"$tmp/log" 2>&1 ||
    { cat "$tmp/log"; fail "paced bench $mode"; }
  order=$(grep -o 'peer-numpy-f32/causal/B:1/T:[0-9]*/\|blas .*causal B=1 T=[0-9]*' "$tmp/log" |
          sed 's/peer-numpy-f32.*T:\([0-9]*\)\//peer\1/; s/blas .*T=\([0-9]*\)/blas\1/' | tr '\n' ' ')
  [ "$order" = "blas1 peer1 blas17 peer17 " ] || { cat "$tmp/log"; fail "paced $mode: progress order '$order'"; }
  [ "$(grep -c ',PASS,' "$tmp/paced$mode/summary.csv")" -eq 4 ] || fail "paced $mode: 4 PASS rows expected"
done
# The runner's pacing protocol itself: `ready`, `done K` per `run K`; a bad command is exit 2, and
# the rows run before it are still written (the rounds, `prepare K` etc.: peers_rounds_test.sh).
"$cli" peers-manifest --variant causal --seq-len 1,5 --heads 1 --d-in 12 --d-out 12 --threads 1 \
  --out "$tmp/manifest" >/dev/null 2>&1 || fail "peers-manifest"
runner=(env ATTNBENCH_PEERS_TESTING=1 "$sys_py" "$src/peers/run_peers.py" --manifest "$tmp/manifest/manifest.json"
        --peers numpy-f32 --repetitions 1 --min-time 0.001)
got=$(printf 'run 1\nrun 0\nend\n' | "${runner[@]}" --out "$tmp/pace1" --paced 3 3>&1 >/dev/null 2>&1 | tr '\n' ' ')
[ "$got" = "ready done 1 done 0 " ] || fail "runner --paced answers '$got'"
[ "$(grep -c ',PASS,' "$tmp/pace1/summary.csv")" -eq 2 ] || fail "runner --paced: 2 PASS rows expected"
r=$(printf 'run 0\nrun 7\n' | "${runner[@]}" --out "$tmp/pace2" --paced 3 2>&1 >/dev/null 3>/dev/null); rc=$?
[ $rc -eq 2 ] || fail "runner --paced with 'run 7' of 2 configs: exit $rc, want 2"
echo "$r" | grep -q "expected \`run K\`, .* (K < 2)" || fail "runner --paced bad command: message: $r"
[ "$(grep -c ',PASS,' "$tmp/pace2/summary.csv")" -eq 1 ] || fail "runner --paced: the row before the bad command was lost"

# 2. bad values are refused before anything is timed.
r=$("$cli" bench "${grid[@]}" --peers nosuchpeer --peers-python "$sys_py" --out "$tmp/bad1" 2>&1); rc=$?
[ $rc -eq 2 ] || fail "--peers nosuchpeer: exit $rc, want 2 ($r)"
echo "$r" | grep -q "unknown peer 'nosuchpeer'" || fail "--peers nosuchpeer: message: $r"
[ ! -e "$tmp/bad1/summary.csv" ] || fail "--peers nosuchpeer ran the sweep"
r=$("$cli" bench "${grid[@]}" --peers onnxruntime --peers-python "$tmp/no-python" --out "$tmp/bad2" 2>&1); rc=$?
[ $rc -eq 2 ] || fail "--peers-python missing: exit $rc, want 2 ($r)"
echo "$r" | grep -q "is not an executable" || fail "--peers-python missing: message: $r"

r=$("$cli" bench "${grid[@]}" --peers-python "$sys_py" --out "$tmp/bad3" 2>&1); rc=$?
[ $rc -eq 2 ] || fail "--peers-python without --peers: exit $rc, want 2 ($r)"
echo "$r" | grep -q "only used with --peers" || fail "--peers-python without --peers: message: $r"

# 3. auto with an interpreter that has no framework: nothing runs, the absent peers are listed.
"$cli" bench --backends blas --variant mha --seq-len 3 --d-in 12 --d-out 12 --heads 1 --threads 1 --sgemm-size 64 \
  --benchmark_repetitions=2 --benchmark_min_time=0.001 -q --peers auto --peers-python "$sys_py" \
  --out "$tmp/auto" >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "--peers auto without frameworks must still pass"; }
if ! "$sys_py" -c "import onnxruntime" 2>/dev/null; then
  grep -q 'absent:\*\*.*onnxruntime' "$tmp/auto/report.md" || fail "report.md does not list the absent peers"
fi

# 4. ONNX Runtime from the peers venv, when there.
venv="${PEERS_VENV:-$src/build/peers-venv}"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import onnxruntime, onnx" 2>/dev/null; then
  "$cli" bench "${grid[@]}" --peers onnxruntime --peers-python "$venv/bin/python" --out "$tmp/ort" >"$tmp/log" 2>&1 ||
    { cat "$tmp/log"; fail "bench --peers onnxruntime"; }
  n=$(grep -c '^custom,peer-onnxruntime,.*,PASS,' "$tmp/ort/summary.csv")
  [ "$n" -eq 32 ] || fail "expected 32 PASS onnxruntime rows, got $n"
  echo "onnxruntime peer: $n rows PASS in the bench"
elif [ "${ATTNBENCH_REQUIRE_PEERS:-0}" = 1 ]; then
  fail "ATTNBENCH_REQUIRE_PEERS=1 but no peers venv with onnxruntime at $venv (scripts/setup-peers)"
else
  echo "note: no peers venv with onnxruntime at $venv: the ONNX Runtime part was not run"
fi
echo "OK"
