#!/usr/bin/env bash
# `run --dump` writes files numpy reads and that reproduce out.npy; `--input/--weights` read
# them back and give the same output bit for bit; a wrong problem.json is caught by numpy.
# Usage: dump_roundtrip_test.sh ATTNBENCH_CLI SOURCE_DIR
set -euo pipefail
cli=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags="--variant mha --batch 2 --seq-len 17 --heads 3 --d-in 12 --d-out 12 --dropout 0.2 --seed 5 --qkv-bias 1"
"$cli" run --backend naive $flags --dump "$tmp/a"
# reference.py also checks the dumped reference output and attention weights against numpy.
/usr/bin/python3 "$src/scripts/reference.py" "$tmp/a" --write | tee "$tmp/ref.log"
grep -q "attn_weights.npy (attnbench's reference) vs numpy" "$tmp/ref.log"
for f in x w_q w_k w_v b_q b_k b_v w_o b_o out ref_out attn_weights numpy_out numpy_attn_weights; do [ -s "$tmp/a/$f.npy" ] || { echo "missing $f.npy"; exit 1; }; done
"$cli" run --backend naive $flags --input "$tmp/a/x.npy" --weights "$tmp/a" --dump "$tmp/b"
cmp "$tmp/a/out.npy" "$tmp/b/out.npy"
echo "re-run from the dumped files: identical out.npy"
for v in simplified self causal; do
  "$cli" run --backend naive --variant $v --seq-len 9 --heads 1 --d-in 8 --d-out 8 --dump "$tmp/$v" >/dev/null
  /usr/bin/python3 "$src/scripts/reference.py" "$tmp/$v"
done
# Grouped-query heads, a sliding window and a KV cache (issue 14): the cache and the narrower
# W_k / W_v are dumped, numpy reproduces out.npy from them, and --weights reads them back (the
# cache file sets kv-heads and past-len).
gqa="--variant mha --batch 2 --seq-len 3 --heads 6 --kv-heads 2 --window 4 --past-len 5 --d-in 12 --d-out 18 --dropout 0.2 --seed 5 --qkv-bias 1"
"$cli" run --backend naive $gqa --dump "$tmp/g"
/usr/bin/python3 "$src/scripts/reference.py" "$tmp/g" | tee "$tmp/g.log"
grep -q "attn_weights.npy (attnbench's reference) vs numpy" "$tmp/g.log"
/usr/bin/python3 - "$tmp/g" <<'PY'
import json, sys, numpy as np
d = sys.argv[1]
shapes = {n: np.load(f"{d}/{n}.npy").shape for n in ("w_k", "b_k", "k_cache", "v_cache", "attn_weights")}
want = {"w_k": (12, 6), "b_k": (6,), "k_cache": (2, 2, 5, 3), "v_cache": (2, 2, 5, 3), "attn_weights": (2, 6, 3, 8)}
prob = json.load(open(f"{d}/problem.json"))
assert shapes == want, shapes
assert (prob["kv_heads"], prob["window"], prob["past_len"]) == (2, 4, 5), prob
print("dumped shapes and problem.json fields: ok")
PY
"$cli" run --backend naive --variant mha --heads 6 --window 4 --dropout 0.2 --seed 5 --qkv-bias 1 \
  --input "$tmp/g/x.npy" --weights "$tmp/g" --dump "$tmp/h"
cmp "$tmp/g/out.npy" "$tmp/h/out.npy"
echo "GQA + window + cache re-run from the dumped files: identical out.npy"
# The numpy check sees the window and the cache: a wider window does not reproduce out.npy.
sed -i 's/"window": 4/"window": 5/' "$tmp/g/problem.json"
if /usr/bin/python3 "$src/scripts/reference.py" "$tmp/g" >/dev/null; then
  echo "numpy check passed with the wrong window"
  exit 1
fi
echo "wrong window detected: ok"

# The numpy check can fail: another dropout seed must not reproduce out.npy.
sed -i 's/"dropout_seed": 5/"dropout_seed": 6/' "$tmp/a/problem.json"
if /usr/bin/python3 "$src/scripts/reference.py" "$tmp/a"; then
  echo "numpy check passed with the wrong dropout seed"
  exit 1
fi
echo "wrong seed detected: ok"
