#!/usr/bin/env bash
# The OpenVINO and PyTorch peers (openvino, torch, torch-mha) on a tiny grid (all four variants,
# odd sizes, T = 1, 3 heads, dropout, bias): every row PASS or UNSUPPORTED with a reason, no
# FAIL/ERROR, and the expected counts per peer. Each peer importable in the venv is run with
# --require; the test is skipped (exit 77, CTest SKIP_RETURN_CODE) when none of them is
# (scripts/setup-peers --openvino / --torch installs them), so CI needs no network installs.
#   peers_frameworks_test.sh ATTNBENCH SOURCE_DIR
set -euo pipefail
cli="$1"; src="$2"
venv="${PEERS_VENV:-$src/build/peers-venv}"
py="$venv/bin/python"
peers=()
if [ -x "$py" ]; then
  "$py" -c "import openvino" 2>/dev/null && peers+=(openvino)
  "$py" -c "import torch" 2>/dev/null && peers+=(torch torch-mha)
fi
if [ "${#peers[@]}" -eq 0 ]; then
  echo "SKIP: neither openvino nor torch importable in $venv (scripts/setup-peers --openvino / --torch)"
  exit 77
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
list="$(IFS=,; echo "${peers[*]}")"
# 4 variants x T 1,3,17 x H 1,3 x dropout 0,0.1 x bias 0,1 = 96 configs per peer.
"$py" "$src/peers/run_peers.py" --attnbench "$cli" --peers "$list" --require \
  --variant simplified,self,causal,mha --seq-len 1,3,17 --heads 1,3 --d-in 12 --d-out 12 \
  --dropout 0,0.1 --qkv-bias 0,1 --threads 1 --repetitions 2 --min-time 0.001 --out "$out" > "$out/log" 2>&1 \
  || { cat "$out/log"; echo "run_peers.py failed"; exit 1; }
csv="$out/summary.csv"
head -1 "$csv" | grep -q '^section,backend,variant,batch,seq_len,' || { echo "bad header"; exit 1; }
# Columns by name (summary.csv gained columns since this test was written).
col() { head -1 "$1" | tr ',' '\n' | grep -n -x "$2" | cut -d: -f1; }
st=$(col "$csv" status); why=$(col "$csv" reason)
# no FAIL / ERROR / SKIPPED, UNSUPPORTED has a reason
check_rows() {
  local bad
  bad=$(awk -F, -v s="$st" -v r="$why" 'NR > 1 && ($s != "PASS" && $s != "UNSUPPORTED" || $s == "UNSUPPORTED" && $r == "")' "$1")
  [ -z "$bad" ] || { echo "rows neither PASS nor UNSUPPORTED with a reason:"; echo "$bad"; exit 1; }
}
check_rows "$csv"
count() { awk -F, -v b="peer-$1" -v s="$2" -v c="$st" 'NR > 1 && $2 == b && $c == s' "$3" | wc -l; }
expect() {  # peer status n [csv]
  local got; got=$(count "$1" "$2" "${4:-$csv}")
  [ "$got" -eq "$3" ] || { echo "$1: expected $3 $2 rows, got $got"; cat "$out/log"; exit 1; }
}
for p in "${peers[@]}"; do
  case "$p" in
    openvino)  expect openvino PASS 96 ;;                       # dropout too (explicit graph)
    torch)     expect torch PASS 48; expect torch UNSUPPORTED 48 ;;          # dropout > 0
    torch-mha) expect torch-mha PASS 12; expect torch-mha UNSUPPORTED 84 ;;  # mha, dropout 0 only
  esac
done
echo "OK: ${peers[*]}: $(($(wc -l < "$csv") - 1)) rows, $(grep -c ',PASS,' "$csv") PASS, the rest UNSUPPORTED"

# Issue 14's forms (grouped-query heads, window, KV cache; odd sizes, bias): torch runs every one
# (SDPA enable_gqa, the cache concatenated, an explicit mask), so does openvino (K/V heads
# broadcast in the graph, the cache as inputs, SDPA's additive mask), both checked against the
# reference; torch-mha says UNSUPPORTED with the reason. 2 x 3 x 4 x 2 x 2 x 2 = 192 configs.
v2="$out/v2"
"$py" "$src/peers/run_peers.py" --attnbench "$cli" --peers "$list" --require \
  --variant causal,mha --seq-len 1,3,17 --heads 6 --kv-heads 1,2,3,6 --window 0,4 --past-len 0,5 \
  --d-in 24 --d-out 36 --qkv-bias 0,1 --threads 1 --repetitions 2 --min-time 0.001 --out "$v2" > "$out/log" 2>&1 \
  || { cat "$out/log"; echo "run_peers.py (issue 14's forms) failed"; exit 1; }
check_rows "$v2/summary.csv"
for p in "${peers[@]}"; do
  case "$p" in
    torch)     expect torch PASS 192 "$v2/summary.csv" ;;
    openvino)  expect openvino PASS 192 "$v2/summary.csv" ;;
    torch-mha) expect torch-mha UNSUPPORTED 192 "$v2/summary.csv" ;;  # d_in != d_out
  esac
done
echo "OK: issue 14's forms: $(($(wc -l < "$v2/summary.csv") - 1)) rows"
