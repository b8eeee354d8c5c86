#!/usr/bin/python3
"""Compare two attnbench results directories (A = before, B = after).

The statistics come from google/benchmark's own tools (Debian package libbenchmark-tools:
/usr/share/benchmark/gbench, the module behind compare.py): get_difference_report pairs the
benchmarks of the two bench.json files by name and runs its Mann-Whitney U test on the
repetitions (needs python3-scipy). On top of it this adds what compare.py lacks:
  - one line per backend x config with the change of the *median* time and the p-value,
  - status changes from summary.csv (e.g. PASS -> FAIL, timed -> SKIPPED),
  - the geometric mean of the time ratios per backend and overall,
  - --fail-above PCT: exit 1 when a cell is significantly (p < alpha) slower by more than PCT %,
    or a cell timed in A is not timed in B (it fails, crashed, timed out, or vanished: an
    unfinished or broken run B is never "no regression").
When gbench is not installed the same two-sided U test is run with scipy directly (said in the
output); without scipy there is no p-value and --fail-above uses the change alone.
Exit codes: 0 ok, 1 regression (with --fail-above), 2 bad input.
"""
import argparse
import csv
import json
import math
import os
import statistics
import sys

GBENCH_DIRS = [os.environ.get("ATTNBENCH_GBENCH_TOOLS", ""), "/usr/share/benchmark"]


def load_gbench():
    for d in GBENCH_DIRS:
        if d and os.path.isdir(os.path.join(d, "gbench")):
            sys.path.insert(0, d)
            try:
                from gbench import report  # noqa: F401

                return report, f"google/benchmark tools ({d}/gbench): Mann-Whitney U, two-sided"
            except ImportError as e:
                sys.path.pop(0)
                return None, f"gbench at {d} not importable ({e})"
    return None, "gbench (libbenchmark-tools) not installed"


def utest_fallback(a, b):
    try:
        from scipy.stats import mannwhitneyu
    except ImportError:
        return None
    if len(a) < 2 or len(b) < 2:
        return None
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def read_dir(d):
    try:
        with open(os.path.join(d, "bench.json")) as f:
            bench = json.load(f)
        with open(os.path.join(d, "summary.csv"), newline="") as f:
            summary = {r["name"]: r for r in csv.DictReader(f)}
    except (OSError, ValueError) as e:
        print(f"compare.py: {d}: {e}", file=sys.stderr)
        sys.exit(2)
    return bench, summary


def strip(name):
    """bench.json names carry Google Benchmark's "/real_time" suffix; summary.csv names do not."""
    return name[: -len("/real_time")] if name.endswith("/real_time") else name


def repetitions(bench):
    """name -> real times (seconds) of the repetitions (aggregates dropped)."""
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    out = {}
    for b in bench.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
            continue
        t = b.get("real_time")
        if not isinstance(t, (int, float)) or isinstance(t, bool) or not math.isfinite(t) or t <= 0:
            # A ratio of medians needs times > 0: a zero or negative time is a broken file.
            raise BadInput(f"benchmark {b.get('name')!r} has real_time {t!r}; a time must be a finite number > 0")
        out.setdefault(strip(b["name"]), []).append(t * scale.get(b.get("time_unit", "ns"), 1e-9))
    return out


class BadInput(Exception):
    """A results directory compare cannot use: exit 2 with the reason."""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir_a")
    ap.add_argument("dir_b")
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--fail-above", type=float, default=None, metavar="PCT")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    bench_a, sum_a = read_dir(a.dir_a)
    bench_b, sum_b = read_dir(a.dir_b)
    reps = []
    for d, bench in ((a.dir_a, bench_a), (a.dir_b, bench_b)):
        try:
            reps.append(repetitions(bench))
        except (BadInput, AttributeError, TypeError, KeyError) as e:
            print(f"compare.py: {d}/bench.json: {e}", file=sys.stderr)
            return 2
    reps_a, reps_b = reps

    report, method = load_gbench()
    pvalues = {}
    if report is not None:
        try:
            for d in report.get_difference_report(bench_a, bench_b, utest=True):
                if d.get("run_type") != "aggregate" and d.get("utest"):
                    pvalues[strip(d["name"])] = d["utest"].get("time_pvalue")
        except Exception as e:  # a gbench version with another layout: fall back, say so
            method = f"gbench failed ({e}); scipy"
            report = None
    if report is None:
        method += "; using scipy.stats.mannwhitneyu (two-sided) directly"

    rows, ratios_by_backend, regressions, lost = [], {}, [], []
    for name in sorted(set(sum_a) | set(sum_b)):
        ra, rb = sum_a.get(name), sum_b.get(name)
        backend = (ra or rb)["backend"]
        sa, sb = (ra or {}).get("status", "-"), (rb or {}).get("status", "-")
        timed = ("PASS", "MISTRUSTED")
        if sa in timed and sb in timed and name in reps_a and name in reps_b:
            ma, mb = statistics.median(reps_a[name]), statistics.median(reps_b[name])
            change = 100.0 * (mb - ma) / ma
            p = pvalues.get(name) if report is not None else utest_fallback(reps_a[name], reps_b[name])
            significant = p is not None and p < a.alpha
            ratios_by_backend.setdefault(backend, []).append(mb / ma)
            rows.append((backend, name, ma, mb, change, p, significant, ""))
            if a.fail_above is not None and change > a.fail_above and (significant or p is None):
                regressions.append(f"{name}: {change:+.1f}% (p={'n/a' if p is None else f'{p:.4f}'})")
        else:
            note = f"{sa} -> {sb}"
            rows.append((backend, name, None, None, None, None, False, note))
            if sa in timed and sb not in timed:
                # Stopped passing, skipped, or vanished ("-": not in B at all, e.g. a run that ended early).
                lost.append(f"{name}: {note}")

    def fmt_t(s):
        return "-" if s is None else (f"{s * 1e3:.3f} ms" if s < 1 else f"{s:.3f} s")

    md = a.markdown
    print(f"compare: A = {a.dir_a}, B = {a.dir_b}")
    print(f"statistics: {method}; significant when p < {a.alpha}")
    print(f"change = (median B - median A) / median A; negative is faster\n")
    header = ["backend", "benchmark", "median A", "median B", "change", "p-value", ""]
    if md:
        print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    else:
        print(f"{'backend':<12} {'benchmark':<60} {'median A':>12} {'median B':>12} {'change':>8} {'p':>7}")
    for backend, name, ma, mb, change, p, sig, note in rows:
        ch = "-" if change is None else f"{change:+.1f}%"
        ps = "-" if p is None else f"{p:.4f}"
        mark = note or ("*" if sig else "")
        if md:
            print(f"| {backend} | {name} | {fmt_t(ma)} | {fmt_t(mb)} | {ch} | {ps} | {mark} |")
        else:
            print(f"{backend:<12} {name:<60} {fmt_t(ma):>12} {fmt_t(mb):>12} {ch:>8} {ps:>7} {mark}")

    print("\ngeometric mean of median-time ratios B/A (per backend, over cells timed in both):")
    allr = []
    for backend in sorted(ratios_by_backend):
        r = ratios_by_backend[backend]
        allr += r
        g = math.exp(sum(math.log(x) for x in r) / len(r))
        print(f"  {backend:<12} {100 * (g - 1):+7.1f}%  ({len(r)} cells)")
    if allr:
        g = math.exp(sum(math.log(x) for x in allr) / len(allr))
        print(f"  {'OVERALL':<12} {100 * (g - 1):+7.1f}%  ({len(allr)} cells)")
    if lost:
        print(f"\n{len(lost)} cell(s) timed in A are not timed in B (failing, crashed, skipped or missing):")
        for r in lost:
            print("  " + r)
    regressions += lost
    if a.fail_above is not None:
        if regressions:
            print(f"\nREGRESSION (> {a.fail_above}% slower, significant, or newly failing):")
            for r in regressions:
                print("  " + r)
            return 1
        print(f"\nno significant regression above {a.fail_above}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
