#!/usr/bin/env bash
# Cross-checks `attnbench machine` against likwid-bench (Debian's likwid, a well-kept tool) on
# this machine: FMA peak at 1 and 2 threads within 15 % of likwid's peakflops_sp_avx512_fma
# (peakflops_sp_avx_fma on an AVX2 CPU); read bandwidth within 35 % of likwid's load kernel; the
# triad between likwid's two triads, 35 % either side: at least its stream kernel (ordinary
# stores, as ours) less 35 %, at most its stream_mem kernel (non-temporal stores) plus 35 %.
# Why a bracket for the triad: STREAM's count (12 bytes per element for ours, 24 for likwid's
# doubles) leaves out the write-allocate read an ordinary store makes the hardware do, and how
# much of that read a core skips for whole-line writes differs from CPU to CPU and with the
# loop; a triad with non-temporal stores moves just the bytes counted, so it is the most a
# triad can report. Seen on Zen 3 VMs at 2 threads: ours 27.9 GB/s, likwid's stream 19.1 (CI,
# failed the old 35 % band around it); on another, by hand, ours 16.1 - 17.9, likwid's stream
# 11.2 - 17.8 and its stream_mem 14.5 - 26.5. The bands are wide because the kernels differ
# (likwid streams doubles with its own unrolling, thread split and buffer placement, ours
# floats through Highway) and memory bandwidth on a shared (virtual) machine moves more from
# run to run than a core's FMA rate does. The machine is shared, so the runs are interleaved
# (ours, then likwid's, three rounds, up to eight while a figure disagrees) and the best of
# each is compared.
#
# Exit 77 (SKIPPED in CTest) when likwid-bench cannot run at all: not installed, no FMA kernel
# for this CPU, or it refuses to start; and under ASan (ATTNBENCH_SANITIZED=1), where our
# kernels run instrumented and the numbers mean nothing.
# Usage: machine_likwid_test.sh ATTNBENCH_CLI
set -u
cli=$1
skip() {
  echo "SKIP: $*"
  exit 77
}
[ "${ATTNBENCH_SANITIZED:-}" = 1 ] && skip "sanitized build (ATTNBENCH_SANITIZED=1): timings are meaningless"
command -v likwid-bench >/dev/null || skip "likwid-bench not found (apt-get install likwid)"
if grep -qw avx512f /proc/cpuinfo; then
  fma_kernel=peakflops_sp_avx512_fma isa=AVX3 stream_kernel=stream_avx512 nt_kernel=stream_mem_avx512 load_kernel=load_avx512
elif grep -qw fma /proc/cpuinfo && grep -qw avx2 /proc/cpuinfo; then
  fma_kernel=peakflops_sp_avx_fma isa=AVX2 stream_kernel=stream_avx nt_kernel=stream_mem_avx load_kernel=load_avx
else
  skip "no AVX2/FMA: likwid-bench has no single-precision FMA kernel to compare with"
fi
if ! probe=$(likwid-bench -t "$fma_kernel" -W N:32kB:1 -i 1000 2>&1) || ! grep -q "MFlops/s" <<<"$probe"; then
  skip "likwid-bench refuses to run here: $(tail -3 <<<"$probe" | tr '\n' ' ')"
fi
threads="1"
[ "$(nproc)" -ge 2 ] && threads="1 2"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME=$tmp/cache
unset OPENBLAS_CORETYPE OMP_NUM_THREADS

# likwid-bench TEST SIZE THREADS KEY [OPTIONS] -> its MFlops/s or MByte/s figure (the summary,
# all threads). The FMA kernel runs a fixed -i 150000 (about 0.2 s at 1 thread, 0.1 s at 2 on
# this machine), four times per round: likwid-bench 5.2's -s below 1 calibrates a 20 us run on
# a 32 kB set (30 % low here), and its 2-thread figure of a run of a few ms is low (the threads
# do not start together); its default -s 1 is one long run, which on a shared machine nearly
# always has a neighbour on one of the two (pinned) cores, where our best of 5 to 20 10-ms runs
# does not. The stream and load kernels likewise run short runs, six per round (-i 4: four
# sweeps of the buffer, ~50 ms), not one -s 0.3 run: on a VM whose host shares its memory
# bandwidth (seen on a Zen 3 VM: one kernel's 2-thread figure moving 15-26 GB/s from run to run),
# our best of 5 to 20 10-ms runs catches a quiet moment that one long likwid run averages away,
# and the best of eight rounds of that still read 22.6 GB/s against our 32.0. Four runs of -i 8
# per round still failed now and then (2-thread triad 20.0 against our 27.4 after eight rounds);
# the best of six -i 8 / -i 4 / -i 2 runs, minutes later: 17.2 / 19.1 / 19.6 GB/s. Eight runs of
# -i 4 failed too (27.9 against 19.1): hence the bracket above, not a longer hunt for likwid's best.
likwid() {
  likwid-bench -t "$1" -W "N:$2:$3" "${@:5}" 2>&1 | awk -v key="$4" -F':[ \t]*' '$1 == key {v = $2} END {print v + 0}'
}

# compare -> exit 0 when every figure is within its band (best of the rounds so far)
compare() {
/usr/bin/python3 - "$tmp" "$isa" "$fma_kernel" "$stream_kernel" "$nt_kernel" "$load_kernel" <<'PY'
import glob, json, sys
tmp, isa, fma_kernel, stream_kernel, nt_kernel, load_kernel = sys.argv[1:]
ours = {}
for path in glob.glob(tmp + "/ours.*.json"):
    p = json.load(open(path))
    for f in p["fma"]:
        if f["isa"] == isa:
            k = ("fma", f["threads"]); ours[k] = max(ours.get(k, 0), f["gflops"])
    for b in p["bandwidth"]:
        k = (b["kernel"], b["threads"]); ours[k] = max(ours.get(k, 0), b["gbytes_per_s"])
theirs = {}
for line in open(tmp + "/likwid.txt"):
    what, t, v = line.split()
    k = (what, int(t)); theirs[k] = max(theirs.get(k, 0), float(v) / 1000)  # MFlops/s, MByte/s (1e6)
fails = 0
names = {"fma": "FMA GFLOP/s  %s vs %s" % (isa, fma_kernel), "read": "read GB/s vs " + load_kernel,
         "triad": "triad GB/s vs %s .. %s" % (stream_kernel, nt_kernel)}
for k in sorted(theirs):
    if k[0] == "triad_nt":
        continue  # the upper end of the triad's bracket, below
    band = 0.15 if k[0] == "fma" else 0.35
    o, l = ours.get(k, 0), theirs[k]
    if k[0] == "triad":
        # between likwid's ordinary-store triad less the band and its non-temporal one plus it
        h = max(l, theirs.get(("triad_nt", k[1]), 0))
        ok = l > 0 and (1 - band) * l <= o <= (1 + band) * h
        likwid = "%7.1f .. %.1f" % (l, h)
        diff = "%+5.1f %% of the low end, %+5.1f %% of the high" % (100 * (o - l) / l if l > 0 else float("inf"),
                                                                     100 * (o - h) / h if h > 0 else float("inf"))
    else:
        rel = abs(o - l) / l if l > 0 else float("inf")
        ok = rel <= band
        likwid = "%7.1f" % l
        diff = "diff %5.1f %%" % (100 * rel)
    fails += not ok
    print("%s %-52s T=%d  ours %7.1f  likwid %s  %s (max %d %%)" %
          ("ok:  " if ok else "FAIL:", names[k[0]], k[1], o, likwid, diff, 100 * band))
if fails:
    print("(load average: %s; on a busy machine likwid's pinned 2-thread runs drop first: run this "
          "test with the machine to itself)" % open("/proc/loadavg").read().strip())
sys.exit(1 if fails else 0)
PY
}

# Three interleaved rounds, then more (up to eight) only while a figure disagrees: on a shared
# machine a neighbour that holds one of the two cores through a whole round pulls likwid's pinned
# 2-thread run down; a later round usually finds the cores free. The band itself never widens.
for round in 1 2 3 4 5 6 7 8; do
  "$cli" machine --remeasure --json --threads "${threads// /,}" >"$tmp/ours.$round.json" || { echo "FAIL: attnbench machine"; exit 1; }
  kb=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['memory_method']['buffer_bytes'] // 1024)" "$tmp/ours.$round.json")
  for t in $threads; do
    for rep in 1 2 3 4; do
      echo "fma $t $(likwid "$fma_kernel" 32kB "$t" MFlops/s -i 150000)" >>"$tmp/likwid.txt"
    done
    # Six of each kind and four non-temporal triads per round: eight rounds of that (about 60 s
    # each, most of it likwid-bench's own start-up) stay inside the test's 600 s.
    for rep in 1 2 3 4 5 6; do
      echo "triad $t $(likwid "$stream_kernel" "${kb}kB" "$t" MByte/s -i 4)" >>"$tmp/likwid.txt"
      echo "read $t $(likwid "$load_kernel" "${kb}kB" "$t" MByte/s -i 4)" >>"$tmp/likwid.txt"
      [ "$rep" -le 4 ] && echo "triad_nt $t $(likwid "$nt_kernel" "${kb}kB" "$t" MByte/s -i 4)" >>"$tmp/likwid.txt"
    done
  done
  if [ "$round" -ge 3 ]; then
    if out=$(compare); then
      echo "$out"
      echo "(agreed after $round rounds)"
      exit 0
    fi
  fi
done
echo "$out"
exit 1
