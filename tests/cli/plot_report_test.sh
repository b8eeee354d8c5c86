#!/bin/bash
# `attnbench plot` on a sweep of one's own (no preset, two axes varying: seq-len and heads): a
# figure per varying axis with the other held, titled with the held values; report.html with the
# failed cell's reproducer line and diagnosis; a run with no timed cell exits non-zero and says so;
# a tiny decode sweep gets its GB/s vs past-len plot per batch.
# Usage: plot_report_test.sh ATTNBENCH_CLI TEST_PLUGIN_DIR
set -u
cli=$1
plugins=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
if ! "${ATTNBENCH_PYTHON:-/usr/bin/python3}" -c "import matplotlib" 2>/dev/null; then
  echo "SKIPPED: /usr/bin/python3 has no matplotlib (scripts/setup installs python3-matplotlib)"
  exit 77
fi
mutant="$plugins/mutant-softmax_axis.so"
out=$tmp/run
"$cli" bench --plugin "$mutant" --backends naive,mutant-softmax-axis --variant mha --seq-len 8,16 --heads 1,2 \
  --batch 1 --d-in 16 --d-out 16 --threads 1 --dropout 0 --qkv-bias 0 --sgemm-size 64 \
  --benchmark_min_time=0.005 --benchmark_repetitions=3 --out "$out" -q >"$tmp/bench.log" 2>&1
[ -f "$out/summary.csv" ] || { cat "$tmp/bench.log"; fail "bench wrote no summary.csv"; }

"$cli" plot "$out" --plugin "$mutant" >"$tmp/plot.log" 2>&1 || { cat "$tmp/plot.log"; fail "plot exited $?"; }
# One figure per (plot, held value): seq-len at H = 1 and 2, heads at T = 8 and 16.
for f in latency_vs_seq_len__H-1 latency_vs_seq_len__H-2 latency_vs_heads__T-8 latency_vs_heads__T-16 \
         gflops_vs_seq_len__H-1 gflops_vs_heads__T-16 workspace_vs_seq_len__H-2; do
  for ext in png svg; do
    [ -s "$out/plots/$f.$ext" ] || fail "missing $f.$ext (have: $(ls "$out/plots" | tr '\n' ' '))"
  done
done
# The roofline of every timed cell under the run's measured peak and bandwidth (env.json machine).
for ext in png svg; do [ -s "$out/plots/roofline.$ext" ] || fail "missing roofline.$ext"; done
grep -q "FMA peak" "$out/plots/roofline.svg" && grep -q "GB/s (triad)" "$out/plots/roofline.svg" ||
  fail "roofline.svg lacks a roof"
grep -q "measured FMA peak" "$out/plots/gflops_vs_seq_len__H-1.svg" || fail "gflops plot lacks the measured peak"
grep -q "% peak" "$out/report.html" || fail "report.html lacks the % peak column"
grep -q "measured FMA peak GFLOP/s" "$out/report.html" || fail "report.html lacks the measured peaks"
grep -q "Latency vs T (H=2, variant=mha, B=1, d_in=16, threads=1)" "$out/plots/latency_vs_seq_len__H-2.svg" ||
  fail "latency_vs_seq_len__H-2.svg is not titled with the held values"
grep -q "Latency vs H (T=8, " "$out/plots/latency_vs_heads__T-8.svg" || fail "latency_vs_heads__T-8.svg title"
# Only naive is timed (the mutant FAILs): one line per plot.
grep -q "mutant-softmax-axis" "$out/plots/latency_vs_seq_len__H-1.svg" && fail "a FAILed backend was plotted"

# A tiny decode sweep (T = 1, past-len and batch varying): GB/s vs past-len under the measured
# bandwidth, one figure per batch; the latency plots take past_len as an axis like any key.
dec=$tmp/decode
"$cli" bench --backends naive --variant mha --seq-len 1 --past-len 8,64 --batch 1,2 --heads 4 --kv-heads 2 \
  --d-in 16 --d-out 16 --threads 1 --dropout 0 --qkv-bias 0 --sgemm-size 64 \
  --benchmark_min_time=0.005 --benchmark_repetitions=3 --out "$dec" -q >"$tmp/decode.log" 2>&1 ||
  { cat "$tmp/decode.log"; fail "decode bench exited $?"; }
"$cli" plot "$dec" --no-report >"$tmp/decode-plot.log" 2>&1 || { cat "$tmp/decode-plot.log"; fail "decode plot"; }
for f in gbs_vs_past_len__B-1 gbs_vs_past_len__B-2 latency_vs_past_len__B-1; do
  [ -s "$dec/plots/$f.svg" ] || fail "missing $f.svg (have: $(ls "$dec/plots" | tr '\n' ' '))"
done
grep -q "measured memory bandwidth" "$dec/plots/gbs_vs_past_len__B-2.svg" || fail "the decode plot lacks the bandwidth roof"
grep -q "KVH=2" "$dec/plots/gbs_vs_past_len__B-1.svg" || fail "the decode plot's title lacks the held kv-heads"
python3 - "$dec/summary.csv" <<'PY' || fail "summary.csv lacks the decode figures"
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["status"] == "PASS"]
assert len(rows) == 4, rows
for r in rows:
    assert float(r["achieved_gbs"]) > 0 and float(r["pct_bandwidth"]) > 0, r
    assert abs(float(r["achieved_gbs"]) - float(r["min_bytes"]) / float(r["median_s"]) * 1e-9) < 1e-6 * float(r["achieved_gbs"]), r
PY

html=$out/report.html
[ -s "$html" ] || fail "no report.html"
grep -q "matches the reference with the softmax taken over queries instead of keys" "$html" ||
  fail "report.html lacks the diagnosis of the mutant's FAIL"
grep -q "attnbench validate --backends mutant-softmax-axis --variant mha --batch 1 --seq-len 8" "$html" ||
  fail "report.html lacks the reproducer line"
grep -q "http://\|https://" "$html" && grep -o 'src="http[^"]*"\|href="http[^"]*"' "$html" | grep -q . &&
  fail "report.html loads something from the network"

# No timed cell: said, and exit 1.
mkdir -p "$tmp/none"
cp "$out/env.json" "$tmp/none/"
awk -F, 'NR == 1 { print; next } { gsub(/,PASS,/, ",FAIL,"); print }' "$out/summary.csv" >"$tmp/none/summary.csv"
"$cli" plot "$tmp/none" --no-report >"$tmp/none.log" 2>&1
rc=$?
[ $rc -eq 1 ] || { cat "$tmp/none.log"; fail "plot of a run with no timed cell exited $rc, not 1"; }
grep -q "no timed cell" "$tmp/none.log" || fail "plot did not say there is no timed cell"
echo "PASS: plot on a two-axis sweep, report.html with diagnosis, no-timed-cell run refused"
