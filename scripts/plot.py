#!/usr/bin/python3
"""Plots of an attnbench results directory: reads DIR/summary.csv and DIR/env.json only, writes
PNG and SVG into DIR/plots/ (each file replaced atomically).

  latency_vs_seq_len   median time vs T per backend (log-log)             [seq-sweep]
  gflops_vs_seq_len    GFLOP/s vs T under the measured FMA peak; best SGEMM dotted [seq-sweep]
  speedup_vs_seq_len   speedup over the baseline backend vs T               [seq-sweep]
  heads_sweep          median time vs H at fixed T (stacked vs split ...)  [heads-sweep]
  workspace_vs_seq_len workspace bytes vs T (log-log)                       [seq-sweep]
  thread_scaling       median time at each thread count per backend         [threads]
  variants             median time of each variant per backend             [variants]
  roofline             GFLOP/s vs FLOP/byte under the measured peak and bandwidth [every timed cell]

Run with Debian's interpreter (/usr/bin/python3, python3-matplotlib): `attnbench plot DIR`.
"""
import argparse
import csv
import json
import os
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TIMED = {"PASS", "MISTRUSTED"}
# Fixed colours/markers per backend, so one backend looks the same in every plot.
STYLE = {
    "naive": ("tab:gray", "x"),
    "blas": ("tab:blue", "o"),
    "openmp": ("tab:green", "s"),
    "highway": ("tab:red", "^"),
    "mha-stacked": ("tab:purple", "D"),
    "mha-split": ("tab:orange", "v"),
    "fused": ("black", "P"),
    "onednn": ("tab:olive", "h"),
    # Peers (other frameworks, `bench --peers`): dashed lines, hollow-looking markers.
    "peer-onnxruntime": ("tab:cyan", "o"),
    "peer-openvino": ("tab:pink", "s"),
    "peer-torch": ("tab:brown", "^"),
    "peer-torch-mha": ("darkgoldenrod", "v"),
}
EXTRA = ["slateblue", "crimson", "teal", "darkkhaki"]


def style(backend, _cache={}):
    if backend in STYLE:
        return STYLE[backend]
    if backend not in _cache:
        _cache[backend] = (EXTRA[len(_cache) % len(EXTRA)], "*")
    return _cache[backend]


def outside_legend(ax, title):
    """Right of the axes: with a dozen backends and peers a legend inside hides the lines
    (savefig uses bbox_inches="tight", so the figure grows to hold it)."""
    ax.legend(title=title, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title_fontsize=8,
              frameon=False)


def line(backend):
    """Peers dashed, our backends solid."""
    return "--" if backend.startswith("peer-") else "-"


def load(dirname):
    try:
        with open(os.path.join(dirname, "summary.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.exit(f"plot.py: {e}")
    env = {}
    try:
        with open(os.path.join(dirname, "env.json")) as f:
            env = json.load(f)
    except (OSError, ValueError):
        pass
    for r in rows:
        for k in ("median_s", "gflops", "sgemm_gflops", "speedup", "stddev_s", "flops", "intensity", "pct_peak"):
            r[k] = float(r.get(k) or 0)
        for k in ("seq_len", "heads", "threads", "workspace_bytes", "batch", "d_in", "d_out"):
            r[k] = int(r[k] or 0)
        r["sections"] = [s for s in r["section"].split(";") if s]
    return rows, env


def subtitle(env):
    cpu = env.get("cpu", {})
    blas = env.get("blas", {})
    parts = [f"{cpu.get('model', '?')}, {cpu.get('cores', '?')} cores",
             f"{blas.get('library', 'BLAS')} {blas.get('version', '')} kernel {blas.get('kernel', '?')}"]
    if env.get("highway_target"):
        parts.append(env["highway_target"])
    parts.append(str(env.get("date", ""))[:10])
    commit = env.get("git", {}).get("commit", "")
    if commit:
        parts.append("commit " + commit[:8])
    return " | ".join(parts)


def describe_fixed(rows, varying):
    """The parameters shared by all rows, for the title."""
    r = rows[0]
    keys = [("variant", "variant"), ("batch", "B"), ("seq_len", "T"), ("d_in", "d"), ("heads", "H"), ("threads", "threads")]
    parts = []
    for k, label in keys:
        if k in varying:
            continue
        vals = {x[k] for x in rows}
        if len(vals) == 1:
            parts.append(f"{label}={r[k]}")
    return ", ".join(parts)


class Plotter:
    def __init__(self, outdir, formats, env):
        self.outdir, self.formats, self.env = outdir, formats, env
        self.written = []

    def save(self, fig, name):
        for fmt in self.formats:
            path = os.path.join(self.outdir, f"{name}.{fmt}")
            tmp = os.path.join(self.outdir, f".{name}.tmp.{os.getpid()}.{fmt}")
            fig.savefig(tmp, format=fmt, dpi=120, bbox_inches="tight")
            os.replace(tmp, path)
            self.written.append(path)
        plt.close(fig)

    def figure(self, title):
        fig, ax = plt.subplots(figsize=(8, 5))
        fig.suptitle(title, fontsize=12)
        ax.set_title(subtitle(self.env), fontsize=8, color="dimgray")
        ax.grid(True, which="both", alpha=0.3)
        return fig, ax


def by_backend(rows, key):
    series = defaultdict(list)
    for r in rows:
        series[r["backend"]].append(r)
    for b in series:
        series[b].sort(key=lambda r: r[key])
    return dict(sorted(series.items()))


def section_rows(rows, name, timed=True):
    return [r for r in rows if name in r["sections"] and (r["status"] in TIMED or not timed)]


def plot_seq(p, rows):
    timed = section_rows(rows, "seq-sweep")
    if not timed:
        return
    fixed = describe_fixed(timed, {"seq_len"})
    series = by_backend(timed, "seq_len")

    fig, ax = p.figure(f"Latency vs sequence length ({fixed})")
    for b, rs in series.items():
        c, m = style(b)
        ax.errorbar([r["seq_len"] for r in rs], [r["median_s"] * 1e3 for r in rs],
                    yerr=[r["stddev_s"] * 1e3 for r in rs], color=c, marker=m, linestyle=line(b), label=b, capsize=3)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T (tokens)")
    ax.set_ylabel("median time per forward pass (ms), bars = stddev")
    outside_legend(ax, "backend")
    p.save(fig, "latency_vs_seq_len")

    fig, ax = p.figure(f"Throughput vs sequence length ({fixed})")
    for b, rs in series.items():
        c, m = style(b)
        ax.plot([r["seq_len"] for r in rs], [r["gflops"] for r in rs], color=c, marker=m, linestyle=line(b), label=b)
    # The measured FMA peak is the roof; the best SGEMM of the run a dotted reference under it.
    roofs = machine_roofs(p.env)
    for t in sorted({r["threads"] for r in timed}):
        if t in roofs:
            ax.axhline(roofs[t][0], color="black", linestyle="-", linewidth=1)
            ax.annotate(f"measured FMA peak {roofs[t][0]:.0f} GFLOP/s ({roofs[t][2]}), {t} thread(s)",
                        (0.01, roofs[t][0]), xycoords=("axes fraction", "data"), va="bottom", fontsize=8)
    libraries = (p.env.get("sgemm") or {}).get("library") or {}
    for s, t in sorted({(r["sgemm_gflops"], r["threads"]) for r in timed if r["sgemm_gflops"] > 0}):
        lib = libraries.get(str(t), "")
        ax.axhline(s, color="dimgray", linestyle=":", linewidth=1)
        ax.annotate(f"best SGEMM (reference) {s:.0f} GFLOP/s, {t} thread(s)" + (f", {lib}" if lib else ""),
                    (0.99, s), xycoords=("axes fraction", "data"), va="top", ha="right", fontsize=7, color="dimgray")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("sequence length T (tokens)")
    ax.set_ylabel("GFLOP/s (FLOP model, docs/benchmarking.md)")
    ax.set_ylim(bottom=0)
    outside_legend(ax, "backend")
    p.save(fig, "gflops_vs_seq_len")

    base = next((r["baseline"] for r in timed if r.get("baseline")), "")
    if base:
        fig, ax = p.figure(f"Speedup over {base} vs sequence length ({fixed})")
        for b, rs in series.items():
            rs = [r for r in rs if r["speedup"] > 0]
            if rs:
                c, m = style(b)
                ax.plot([r["seq_len"] for r in rs], [r["speedup"] for r in rs], color=c, marker=m, linestyle=line(b), label=b)
        ax.axhline(1.0, color="black", linewidth=1)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length T (tokens)")
        ax.set_ylabel(f"speedup = {base} median / backend median (x)")
        outside_legend(ax, "backend")
        p.save(fig, "speedup_vs_seq_len")

    fig, ax = p.figure(f"Workspace memory vs sequence length ({fixed})")
    for b, rs in series.items():
        rs = [r for r in rs if r["workspace_bytes"] > 0]
        if rs:
            c, m = style(b)
            ax.plot([r["seq_len"] for r in rs], [r["workspace_bytes"] / 2**20 for r in rs], color=c, marker=m, linestyle=line(b), label=b)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T (tokens)")
    ax.set_ylabel("workspace held by the backend state (MiB)")
    outside_legend(ax, "backend")
    p.save(fig, "workspace_vs_seq_len")


def machine_roofs(env):
    """threads -> (FMA peak GFLOP/s of the widest-measured best ISA, triad GB/s, ISA name) from
    env.json "machine" (the profile `attnbench machine` measures; docs/machine.md)."""
    m = env.get("machine") or {}
    roofs = {}
    for f in m.get("fma", []):
        t, g = int(f.get("threads", 0)), float(f.get("gflops", 0))
        if g > roofs.get(t, (0, 0, ""))[0]:
            roofs[t] = (g, 0.0, f.get("isa", "?"))
    for b in m.get("bandwidth", []):
        t = int(b.get("threads", 0))
        if b.get("kernel") == "triad" and t in roofs:
            roofs[t] = (roofs[t][0], max(roofs[t][1], float(b.get("gbytes_per_s", 0))), roofs[t][2])
    return roofs


def plot_roofline(p, rows):
    """GFLOP/s vs arithmetic intensity (FLOPs / the byte model's minimum bytes), log-log, under
    the measured roofs: min(FMA peak, bandwidth x intensity). One panel per thread count, one
    point per timed cell, coloured by backend."""
    timed = [r for r in rows if r["status"] in TIMED and r["intensity"] > 0 and r["gflops"] > 0]
    roofs = machine_roofs(p.env)
    threads = sorted({r["threads"] for r in timed if r["threads"] in roofs})
    if not threads:
        return
    fig, axes = plt.subplots(1, len(threads), figsize=(7 * len(threads), 5), squeeze=False)
    fig.suptitle("Roofline: every timed cell under the measured peaks\n" + subtitle(p.env), fontsize=11)
    for ax, t in zip(axes[0], threads):
        peak, bw, isa = roofs[t]
        pts = [r for r in timed if r["threads"] == t]
        lo = min(r["intensity"] for r in pts) / 4
        hi = max(r["intensity"] for r in pts) * 4
        if bw > 0:
            lo = min(lo, peak / bw / 4)
            ridge = peak / bw
            xs = [lo, ridge, hi] if lo < ridge < hi else [lo, hi]
            ax.plot(xs, [min(peak, bw * x) for x in xs], color="black", linewidth=1.5)
            ax.annotate(f"memory {bw:.1f} GB/s (triad)", (lo, bw * lo), fontsize=8, rotation=0, va="bottom")
        else:
            ax.axhline(peak, color="black", linewidth=1.5)
        ax.annotate(f"FMA peak {peak:.0f} GFLOP/s ({isa})", (hi, peak), fontsize=8, ha="right", va="bottom")
        for b, rs in by_backend(pts, "intensity").items():
            c, m = style(b)
            ax.scatter([r["intensity"] for r in rs], [r["gflops"] for r in rs], color=c, marker=m, label=b,
                       facecolors="none" if b.startswith("peer-") else c, s=36)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("arithmetic intensity (FLOP per byte of minimum traffic)")
        ax.set_ylabel("GFLOP/s (FLOP model)")
        ax.set_title(f"{t} thread(s)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    outside_legend(axes[0][-1], "backend (hollow: peers)")
    p.save(fig, "roofline")


def plot_heads(p, rows):
    timed = section_rows(rows, "heads-sweep")
    if not timed:
        return
    fixed = describe_fixed(timed, {"heads"})
    fig, ax = p.figure(f"Heads sweep ({fixed})")
    for b, rs in by_backend(timed, "heads").items():
        c, m = style(b)
        bold = b in ("mha-stacked", "mha-split")
        ax.plot([r["heads"] for r in rs], [r["median_s"] * 1e3 for r in rs], color=c, marker=m, linestyle=line(b), label=b,
                linewidth=2.5 if bold else 1.2)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    hs = sorted({r["heads"] for r in timed})
    ax.set_xticks(hs)
    ax.set_xticklabels([str(h) for h in hs])
    ax.set_xlabel("heads H (head_dim = d_out / H)")
    ax.set_ylabel("median time per forward pass (ms)")
    outside_legend(ax, "backend (bold: stacked vs split MHA)")
    p.save(fig, "heads_sweep")


def grouped_bars(p, rows, group_key, title, xlabel, name, group_label):
    groups = sorted({r[group_key] for r in rows}, key=lambda v: (str(type(v)), v))
    backends = sorted({r["backend"] for r in rows})
    fig, ax = p.figure(title)
    width = 0.8 / max(1, len(groups))
    for gi, g in enumerate(groups):
        xs, ys = [], []
        for bi, b in enumerate(backends):
            r = next((r for r in rows if r["backend"] == b and r[group_key] == g), None)
            if r:
                xs.append(bi + (gi - (len(groups) - 1) / 2) * width)
                ys.append(r["median_s"] * 1e3)
        ax.bar(xs, ys, width=width, label=f"{group_label}{g}")
    ax.set_xticks(range(len(backends)))
    ax.set_xticklabels(backends, rotation=20)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("median time per forward pass (ms)")
    ax.legend()
    p.save(fig, name)


def plot_threads(p, rows):
    timed = section_rows(rows, "threads")
    if not timed or len({r["threads"] for r in timed}) < 2:
        return
    fixed = describe_fixed(timed, {"threads"})
    grouped_bars(p, timed, "threads", f"Thread scaling ({fixed})", "backend", "thread_scaling", "threads = ")


def plot_variants(p, rows):
    timed = section_rows(rows, "variants")
    if not timed:
        return
    fixed = describe_fixed(timed, {"variant"})
    grouped_bars(p, timed, "variant", f"The four variants ({fixed})", "backend", "variants", "")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="results directory written by `attnbench bench`")
    ap.add_argument("--formats", default="png,svg", help="comma list of image formats (default png,svg)")
    a = ap.parse_args()
    if not os.path.isfile(os.path.join(a.dir, "summary.csv")):
        print(f"plot.py: {a.dir}: no summary.csv", file=sys.stderr)
        return 2
    rows, env = load(a.dir)
    outdir = os.path.join(a.dir, "plots")
    os.makedirs(outdir, exist_ok=True)
    p = Plotter(outdir, [f for f in a.formats.split(",") if f], env)
    plot_seq(p, rows)
    plot_heads(p, rows)
    plot_threads(p, rows)
    plot_variants(p, rows)
    plot_roofline(p, rows)
    if not p.written:
        print(f"plot.py: nothing to plot in {a.dir} (no timed cells in a known section: seq-sweep, "
              "heads-sweep, threads, variants)", file=sys.stderr)
        return 0
    print(f"plots: {len(p.written)} files in {outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
