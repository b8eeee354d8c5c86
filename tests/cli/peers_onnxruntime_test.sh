#!/usr/bin/env bash
# The ONNX Runtime peer on a tiny grid (all four variants, odd sizes, dropout, bias; then
# grouped-query heads, windows and the KV cache): every row PASS and summary.csv has the bench
# columns. Skipped (exit 77, CTest SKIP_RETURN_CODE) when the
# peers venv (scripts/setup-peers) does not exist, unless ATTNBENCH_REQUIRE_PEERS=1 (.ci/run sets it).
#   peers_onnxruntime_test.sh ATTNBENCH SOURCE_DIR
set -euo pipefail
cli="$1"; src="$2"
venv="${PEERS_VENV:-$src/build/peers-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import onnxruntime, onnx" 2>/dev/null; then
  if [ "${ATTNBENCH_REQUIRE_PEERS:-0}" = 1 ]; then
    echo "FAIL: ATTNBENCH_REQUIRE_PEERS=1 but no peers venv with onnxruntime at $venv (scripts/setup-peers)"
    exit 1
  fi
  echo "SKIP: no peers venv with onnxruntime at $venv (run scripts/setup-peers)"
  exit 77
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$venv/bin/python" "$src/peers/run_peers.py" --attnbench "$cli" --peers onnxruntime --require \
  --variant simplified,self,causal,mha --seq-len 1,3,17 --heads 1,3 --d-in 12 --d-out 12 \
  --dropout 0,0.1 --qkv-bias 0,1 --threads 1 --repetitions 2 --min-time 0.001 --out "$out"
rows=$(($(wc -l < "$out/summary.csv") - 1))
pass=$(grep -c ',PASS,' "$out/summary.csv" || true)
[ "$rows" -eq 96 ] || { echo "expected 96 rows, got $rows"; exit 1; }
[ "$pass" -eq 96 ] || { echo "expected 96 PASS, got $pass"; cat "$out/summary.csv"; exit 1; }
head -1 "$out/summary.csv" | grep -q '^section,backend,variant,batch,seq_len,' || { echo "bad header"; exit 1; }
echo "OK: $pass/$rows onnxruntime peer rows PASS"
# ONNX Runtime's fused com.microsoft.Attention: every config with projections and no dropout
# PASS, the others UNSUPPORTED (no weights to fuse / no dropout in the operator), none FAIL.
"$venv/bin/python" "$src/peers/run_peers.py" --peers onnxruntime-attention --require \
  --variant simplified,self,causal,mha --seq-len 1,3,17 --heads 1,3 --d-in 12 --d-out 12 \
  --dropout 0,0.1 --qkv-bias 0,1 --threads 1 --repetitions 2 --min-time 0.001 --out "$out/fused"
pass=$(grep -c ',PASS,' "$out/fused/summary.csv" || true)
unsup=$(grep -c ',UNSUPPORTED,' "$out/fused/summary.csv" || true)
[ "$pass" -eq 36 ] && [ "$unsup" -eq 60 ] || { echo "onnxruntime-attention: $pass PASS / $unsup UNSUPPORTED, want 36 / 60"; exit 1; }
echo "OK: onnxruntime-attention $pass PASS, $unsup UNSUPPORTED"
# Issue 14's forms in the generated graph (K/V head groups, the window in the mask, the cache as
# inputs before the new K/V, dropout keyed by absolute positions): every row PASS against the
# float64 reference; the fused operator says UNSUPPORTED with the reason.
"$venv/bin/python" "$src/peers/run_peers.py" --attnbench "$cli" --peers onnxruntime,onnxruntime-attention --require \
  --variant mha --seq-len 1,17 --heads 6 --kv-heads 2,3 --window 0,4 --past-len 0,1000 --d-in 24 --d-out 36 \
  --batch 2 --dropout 0,0.1 --qkv-bias 1 --threads 1 --repetitions 2 --min-time 0.001 --out "$out/v2"
"$venv/bin/python" - "$out/v2/summary.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
ort = [r for r in rows if r["backend"] == "peer-onnxruntime"]
fused = [r for r in rows if r["backend"] == "peer-onnxruntime-attention"]
assert len(ort) == 32 and all(r["status"] == "PASS" for r in ort), [(r["name"], r["status"], r["reason"]) for r in ort]
assert {(r["kv_heads"], r["window"], r["past_len"]) for r in ort} == {
    (k, w, p) for k in ("2", "3") for w in ("0", "4") for p in ("0", "1000")}, "the manifest lost a key"
assert len(fused) == 32 and all(r["status"] == "UNSUPPORTED" and "kv_heads/window/past_len" in r["reason"]
                                for r in fused), fused[0]
print(f"OK: onnxruntime {len(ort)} kv-heads/window/past-len rows PASS; onnxruntime-attention UNSUPPORTED with the reason")
PY
