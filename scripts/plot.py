#!/usr/bin/python3
"""Plots of any attnbench results directory: reads DIR/summary.csv and DIR/env.json only, writes
PNG and SVG into DIR/plots/ (each file replaced atomically).

The plots follow the run, not a preset: the problem axes that vary among the timed cells (seq_len,
heads, batch, d_in, threads, variant, ... -- the problem-key columns of summary.csv, passed by
`attnbench plot` as --axes) are found, and for each varying axis one figure is drawn per
combination of the other varying axes, titled with the values held:

  latency_vs_<axis>[__<held>]    median time vs the axis per backend
  gflops_vs_<axis>[__<held>]     GFLOP/s vs the axis under the measured FMA peak, best SGEMM dotted (numeric axes)
  speedup_vs_<axis>[__<held>]    speedup over the baseline backend (numeric axes, with a baseline)
  workspace_vs_<axis>[__<held>]  workspace bytes vs the axis (numeric axes)
  gbs_vs_past_len[__<held>]      decode: GB/s (the byte model's traffic, KV cache read once, per
                                 second) vs the cache length under the measured memory bandwidth
                                 (triad solid, read dashed); one figure per batch (held)
  latency_by_backend             when no axis varies: one bar per backend
  roofline                       every timed cell: GFLOP/s vs FLOP/byte under the measured peak and
                                 memory bandwidth (env.json "machine"), one panel per thread count

A non-numeric axis (variant) and a numeric one with few values (threads) are drawn as grouped
bars. Each plot is one function taking (plotter, rows, axis, held); PLOTS lists them, so a new
plot is one function and one entry. A run with no timed cell exits 1 and says so.

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
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

TIMED = {"PASS", "MISTRUSTED"}
# The problem-key columns of summary.csv when --axes is not given (harness/problem_keys.cpp is the
# source: `attnbench plot` passes its list).
DEFAULT_AXES = ["variant", "batch", "seq_len", "heads", "kv_heads", "window", "past_len", "d_in", "d_out", "causal",
                "dropout", "qkv_bias", "threads"]
# How an axis is named on a plot and in a file name.
LABEL = {"seq_len": "T", "batch": "B", "heads": "H", "d_in": "d_in", "d_out": "d_out", "threads": "threads",
         "variant": "variant", "causal": "causal", "dropout": "dropout", "qkv_bias": "bias", "kv_heads": "KVH",
         "window": "W", "past_len": "P"}
AXIS_TEXT = {"seq_len": "sequence length T (tokens)", "heads": "heads H (head_dim = d_out / H)",
             "batch": "batch B", "d_in": "input width d_in", "d_out": "output width d_out",
             "threads": "threads", "dropout": "dropout p", "variant": "variant",
             "kv_heads": "KV heads (grouped-query: H / KV heads query heads share one)",
             "window": "sliding window W (keys a query sees)", "past_len": "KV-cache length P (cached tokens)"}
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
    # Peers (other frameworks, `bench --peers`): dashed lines.
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


def plain_log_ticks(axis, suffix=""):
    """Log-axis tick labels as plain numbers ("0.2x", "3"), on the minor ticks too: matplotlib's
    default writes 2x10^-1, and a range inside one decade gets a single label."""
    fmt = FuncFormatter(lambda v, _: f"{v:g}{suffix}")
    axis.set_major_formatter(fmt)
    axis.set_minor_locator(LogLocator(base=10, subs=(2, 3, 5)))
    axis.set_minor_formatter(fmt)


def number(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f


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
        for k in ("median_s", "gflops", "sgemm_gflops", "speedup", "stddev_s", "flops", "workspace_bytes",
                  "intensity", "pct_peak", "min_bytes", "achieved_gbs"):
            r[k] = number(r.get(k)) or 0.0
        # An older summary.csv has no achieved_gbs: the same figure from its byte model and median.
        if not r["achieved_gbs"] and r["min_bytes"] > 0 and r["median_s"] > 0 and r.get("status") in TIMED:
            r["achieved_gbs"] = r["min_bytes"] / r["median_s"] * 1e-9
    return rows, env


def axis_value(r, axis):
    """A numeric axis as a number (for ordering and log scales), else the text."""
    v = number(r.get(axis))
    return v if v is not None else r.get(axis, "")


def shown(v):
    return f"{v:g}" if isinstance(v, float) else str(v)


def is_numeric(rows, axis):
    return all(isinstance(axis_value(r, axis), float) for r in rows)


def determined_by(rows, a, b):
    """Whether axis a's value follows from axis b's in every row (causal from variant)."""
    seen = {}
    return all(seen.setdefault(r[b], r[a]) == r[a] for r in rows)


def varying_axes(rows, axes):
    """The axes whose value differs among the rows, in the order given, less those that follow
    from an earlier one (causal from variant, d_out from d_in): holding them would split the
    very comparison the earlier axis makes."""
    varying = []
    for a in axes:
        if a in rows[0] and len({r[a] for r in rows}) > 1 and not any(determined_by(rows, a, b) for b in varying):
            varying.append(a)
    return varying


def held_title(held):
    return ", ".join(f"{LABEL.get(k, k)}={v}" for k, v in held)


def held_suffix(held):
    return "".join(f"__{LABEL.get(k, k)}-{v}" for k, v in held).replace("/", "-").replace(" ", "")


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
        # The run's machine line under the title, as a figure text: inside the axes it collided
        # with annotations at the top of the plot (the SGEMM ceiling).
        fig, ax = plt.subplots(figsize=(8, 5))
        fig.suptitle(title, fontsize=12, y=0.99)
        fig.text(0.5, 0.93, subtitle(self.env), ha="center", fontsize=8, color="dimgray")
        fig.subplots_adjust(top=0.88)
        ax.grid(True, which="both", alpha=0.3)
        return fig, ax


def by_backend(rows, axis):
    series = defaultdict(list)
    for r in rows:
        series[r["backend"]].append(r)
    for b in series:
        series[b].sort(key=lambda r: axis_value(r, axis))
    return dict(sorted(series.items()))


def set_numeric_x(ax, rows, axis):
    xs = sorted({axis_value(r, axis) for r in rows})
    if xs[0] > 0 and xs[-1] / xs[0] >= 4:
        ax.set_xscale("log", base=2)
    ax.set_xticks(xs)
    ax.set_xticklabels([shown(x) for x in xs])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(AXIS_TEXT.get(axis, axis))


def as_bars(rows, axis):
    """Grouped bars for a text axis, or a numeric one with at most 3 values (threads 1, 2)."""
    return not is_numeric(rows, axis) or len({r[axis] for r in rows}) <= 3 and axis == "threads"


def grouped_bars(p, rows, axis, title, name):
    groups = sorted({axis_value(r, axis) for r in rows}, key=lambda v: (str(type(v)), v))
    backends = sorted({r["backend"] for r in rows})
    fig, ax = p.figure(title)
    width = 0.8 / max(1, len(groups))
    for gi, g in enumerate(groups):
        xs, ys = [], []
        for bi, b in enumerate(backends):
            r = next((r for r in rows if r["backend"] == b and axis_value(r, axis) == g), None)
            if r:
                xs.append(bi + (gi - (len(groups) - 1) / 2) * width)
                ys.append(r["median_s"] * 1e3)
        ax.bar(xs, ys, width=width, label=f"{LABEL.get(axis, axis)} = {shown(g)}" if axis else None)
    ax.set_xticks(range(len(backends)))
    # Slanted and anchored at their right end: long peer names side by side overlapped.
    ax.set_xticklabels(backends, rotation=35, ha="right", fontsize=8)
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis)
    ax.set_xlabel("backend")
    ax.set_ylabel("median time per forward pass (ms)")
    if axis:
        outside_legend(ax, LABEL.get(axis, axis))
    p.save(fig, name)


# ---- the plots: each (plotter, rows, axis, held) -> draws at most one figure ----

def plot_latency(p, rows, axis, held, name):
    title = f"Latency vs {LABEL.get(axis, axis)}" + (f" ({held_title(held)})" if held else "")
    if as_bars(rows, axis):
        grouped_bars(p, rows, axis, title, name)
        return
    fig, ax = p.figure(title)
    for b, rs in by_backend(rows, axis).items():
        c, m = style(b)
        ax.errorbar([axis_value(r, axis) for r in rs], [r["median_s"] * 1e3 for r in rs],
                    yerr=[r["stddev_s"] * 1e3 for r in rs], color=c, marker=m, linestyle=line(b), label=b, capsize=3)
    set_numeric_x(ax, rows, axis)
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis)
    ax.set_ylabel("median time per forward pass (ms), bars = stddev")
    outside_legend(ax, "backend")
    p.save(fig, name)


def plot_gflops(p, rows, axis, held, name):
    if as_bars(rows, axis):
        return
    fig, ax = p.figure(f"Throughput vs {LABEL.get(axis, axis)}" + (f" ({held_title(held)})" if held else ""))
    top = 0.0
    for b, rs in by_backend(rows, axis).items():
        c, m = style(b)
        ax.plot([axis_value(r, axis) for r in rs], [r["gflops"] for r in rs], color=c, marker=m, linestyle=line(b), label=b)
        top = max([top] + [r["gflops"] for r in rs])
    # The measured FMA peak is the roof; the best SGEMM of the run a dotted reference under it.
    roofs = machine_roofs(p.env)
    for t in sorted({int(number(r.get("threads")) or 0) for r in rows}):
        if t in roofs:
            ax.axhline(roofs[t][0], color="black", linestyle="-", linewidth=1)
            # Below the line, inside the axes: above it the label met the title block.
            ax.annotate(f"measured FMA peak {roofs[t][0]:.0f} GFLOP/s ({roofs[t][2]}), {t} thread(s)",
                        (0.01, roofs[t][0]), xycoords=("axes fraction", "data"), xytext=(0, -3),
                        textcoords="offset points", va="top", fontsize=8)
            top = max(top, roofs[t][0])
    libraries = (p.env.get("sgemm") or {}).get("library") or {}
    for s, t in sorted({(r["sgemm_gflops"], int(number(r.get("threads")) or 0)) for r in rows if r["sgemm_gflops"] > 0}):
        lib = libraries.get(str(t), "")
        ax.axhline(s, color="dimgray", linestyle=":", linewidth=1)
        ax.annotate(f"best SGEMM (reference) {s:.0f} GFLOP/s, {t} thread(s)" + (f", {lib}" if lib else ""),
                    (0.99, s), xycoords=("axes fraction", "data"), xytext=(0, -3), textcoords="offset points",
                    va="top", ha="right", fontsize=7, color="dimgray")
        top = max(top, s)
    set_numeric_x(ax, rows, axis)
    ax.set_ylabel("GFLOP/s (FLOP model, docs/benchmarking.md)")
    ax.set_ylim(0, top * 1.1 if top > 0 else 1)
    outside_legend(ax, "backend")
    p.save(fig, name)


def plot_speedup(p, rows, axis, held, name):
    base = next((r["baseline"] for r in rows if r.get("baseline")), "")
    if not base or as_bars(rows, axis) or not any(r["speedup"] > 0 for r in rows):
        return
    fig, ax = p.figure(f"Speedup over {base} vs {LABEL.get(axis, axis)}" + (f" ({held_title(held)})" if held else ""))
    for b, rs in by_backend(rows, axis).items():
        rs = [r for r in rs if r["speedup"] > 0]
        if rs:
            c, m = style(b)
            ax.plot([axis_value(r, axis) for r in rs], [r["speedup"] for r in rs], color=c, marker=m, linestyle=line(b),
                    label=b)
    ax.axhline(1.0, color="black", linewidth=1)
    set_numeric_x(ax, rows, axis)
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis, "x")
    ax.set_ylabel(f"speedup = {base} median / backend median")
    outside_legend(ax, "backend")
    p.save(fig, name)


def plot_workspace(p, rows, axis, held, name):
    if as_bars(rows, axis) or not any(r["workspace_bytes"] > 0 for r in rows):
        return
    fig, ax = p.figure(f"Workspace memory vs {LABEL.get(axis, axis)}" + (f" ({held_title(held)})" if held else ""))
    for b, rs in by_backend(rows, axis).items():
        rs = [r for r in rs if r["workspace_bytes"] > 0]
        if rs:
            c, m = style(b)
            ax.plot([axis_value(r, axis) for r in rs], [r["workspace_bytes"] / 2**20 for r in rs], color=c, marker=m,
                    linestyle=line(b), label=b)
    set_numeric_x(ax, rows, axis)
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis)
    ax.set_ylabel("workspace held by the backend state (MiB)")
    outside_legend(ax, "backend")
    p.save(fig, name)


def plot_gbs(p, rows, axis, held, name):
    """Decode is memory-bound: its figure is GB/s (byte model: x, weights, KV cache once, out)
    against the measured bandwidth. Drawn for the past_len axis only (held batch: one per batch)."""
    if axis != "past_len" or not any(r["achieved_gbs"] > 0 for r in rows):
        return
    fig, ax = p.figure(f"Decode: memory rate vs KV-cache length" + (f" ({held_title(held)})" if held else ""))
    top = 0.0
    for b, rs in by_backend(rows, axis).items():
        rs = [r for r in rs if r["achieved_gbs"] > 0]
        if rs:
            c, m = style(b)
            ax.plot([axis_value(r, axis) for r in rs], [r["achieved_gbs"] for r in rs], color=c, marker=m,
                    linestyle=line(b), label=b)
            top = max([top] + [r["achieved_gbs"] for r in rs])
    roofs = bandwidth_roofs(p.env)
    for t in sorted({int(number(r.get("threads")) or 0) for r in rows}):
        for kernel, ls in (("triad", "-"), ("read", "--")):
            bw = roofs.get(t, {}).get(kernel, 0)
            if bw > 0:
                ax.axhline(bw, color="black", linestyle=ls, linewidth=1)
                ax.annotate(f"measured memory bandwidth {bw:.1f} GB/s ({kernel}), {t} thread(s)", (0.01, bw),
                            xycoords=("axes fraction", "data"), xytext=(0, -3), textcoords="offset points",
                            va="top", fontsize=8)
                top = max(top, bw)
    set_numeric_x(ax, rows, axis)
    ax.set_ylabel("GB/s = minimum bytes (x, weights, KV cache, out) / median")
    ax.set_ylim(0, top * 1.1 if top > 0 else 1)
    outside_legend(ax, "backend")
    p.save(fig, name)


def bandwidth_roofs(env):
    """threads -> {"triad": GB/s, "read": GB/s}, the best of each kernel in env.json "machine"."""
    roofs = defaultdict(dict)
    for b in (env.get("machine") or {}).get("bandwidth", []):
        t, k, g = int(b.get("threads", 0)), b.get("kernel", ""), float(b.get("gbytes_per_s", 0))
        roofs[t][k] = max(roofs[t].get(k, 0.0), g)
    return roofs


def machine_roofs(env):
    """threads -> (FMA peak GFLOP/s of the best ISA, triad GB/s, ISA name) from env.json
    "machine" (the profile `attnbench machine` measures; docs/machine.md)."""
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
    point per timed cell, coloured by backend (peers hollow)."""
    timed = [r for r in rows if r["intensity"] > 0 and r["gflops"] > 0]
    roofs = machine_roofs(p.env)
    threads = sorted({int(number(r.get("threads")) or 0) for r in timed if int(number(r.get("threads")) or 0) in roofs})
    if not threads:
        return
    fig, axes = plt.subplots(1, len(threads), figsize=(7 * len(threads), 5), squeeze=False)
    fig.suptitle("Roofline: every timed cell under the measured peaks\n" + subtitle(p.env), fontsize=11)
    for ax, t in zip(axes[0], threads):
        peak, bw, isa = roofs[t]
        pts = [r for r in timed if int(number(r.get("threads")) or 0) == t]
        lo = min(r["intensity"] for r in pts) / 4
        hi = max(r["intensity"] for r in pts) * 4
        if bw > 0:
            lo = min(lo, peak / bw / 4)
            ridge = peak / bw
            xs = [lo, ridge, hi] if lo < ridge < hi else [lo, hi]
            ax.plot(xs, [min(peak, bw * x) for x in xs], color="black", linewidth=1.5)
            ax.annotate(f"memory {bw:.1f} GB/s (triad)", (lo, bw * lo), fontsize=8, va="bottom")
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


# (file-name stem, function): every plot drawn for each varying axis and held combination.
PLOTS = [("latency", plot_latency), ("gflops", plot_gflops), ("speedup", plot_speedup),
         ("workspace", plot_workspace), ("gbs", plot_gbs)]


def default_valued(r, axis):
    """Whether a problem key holds the chapter-3 value that titles need not name (MHA's
    kv_heads == heads, no window, no cache)."""
    if axis == "kv_heads":
        return r.get("kv_heads") == r.get("heads")
    return axis in ("window", "past_len") and number(r.get(axis)) == 0


def plot_run(p, rows, axes):
    """Every plot of PLOTS for every varying axis, one figure per combination of the others."""
    varying = varying_axes(rows, axes)
    if not varying:
        held = [(a, rows[0][a]) for a in axes if a in rows[0]]
        grouped_bars(p, rows, "", f"Latency by backend ({held_title(held)})", "latency_by_backend")
        return
    # The axes that do not vary, named in every title too (variant=mha, B=1, ...).
    constant = [(a, rows[0][a]) for a in ("variant", "batch", "seq_len", "d_in", "heads", "kv_heads", "window",
                                          "past_len", "threads")
                if a in rows[0] and a not in varying and not default_valued(rows[0], a)]
    for axis in varying:
        others = [a for a in varying if a != axis]
        groups = defaultdict(list)
        for r in rows:
            groups[tuple(r[a] for a in others)].append(r)
        # Only combinations where the axis really moves; one figure per (plot, combination).
        figures = [(key, rs) for key, rs in sorted(groups.items()) if len({r[axis] for r in rs}) > 1]
        for key, rs in figures:
            held = list(zip(others, key))
            suffix = held_suffix(held) if len(figures) > 1 else ""
            for stem, fn in PLOTS:
                fn(p, rs, axis, held + constant, f"{stem}_vs_{axis}{suffix}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="results directory written by `attnbench bench`")
    ap.add_argument("--formats", default="png,svg", help="comma list of image formats (default png,svg)")
    ap.add_argument("--axes", default=",".join(DEFAULT_AXES),
                    help="comma list of the problem-key columns of summary.csv (default: %(default)s)")
    a = ap.parse_args()
    if not os.path.isfile(os.path.join(a.dir, "summary.csv")):
        print(f"plot.py: {a.dir}: no summary.csv", file=sys.stderr)
        return 2
    rows, env = load(a.dir)
    timed = [r for r in rows if r.get("status") in TIMED and r["median_s"] > 0]
    if not timed:
        print(f"plot.py: nothing to plot in {a.dir}: no timed cell ({len(rows)} rows, none PASS / MISTRUSTED "
              "with a time)", file=sys.stderr)
        return 1
    outdir = os.path.join(a.dir, "plots")
    os.makedirs(outdir, exist_ok=True)
    p = Plotter(outdir, [f for f in a.formats.split(",") if f], env)
    plot_run(p, timed, [x for x in a.axes.split(",") if x])
    plot_roofline(p, timed)
    print(f"plots: {len(p.written)} files in {outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
