#!/usr/bin/python3
"""Plots of an attnbench results directory: reads DIR/summary.csv and DIR/env.json only, writes
PNG and SVG into DIR/plots/ (each file replaced atomically).

  latency_vs_seq_len   median time vs T per backend (log-log)             [seq-sweep]
  gflops_vs_seq_len    GFLOP/s vs T, the same-run SGEMM rate as ceiling    [seq-sweep]
  speedup_vs_seq_len   speedup over the baseline backend vs T               [seq-sweep]
  heads_sweep          median time vs H at fixed T (stacked vs split ...)  [heads-sweep]
  workspace_vs_seq_len workspace bytes vs T (log-log)                       [seq-sweep]
  thread_scaling       median time at each thread count per backend         [threads]
  variants             median time of each variant per backend             [variants]

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
        for k in ("median_s", "gflops", "sgemm_gflops", "speedup", "stddev_s", "flops"):
            r[k] = float(r[k] or 0)
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
    ceilings = sorted({(r["sgemm_gflops"], r["threads"]) for r in timed if r["sgemm_gflops"] > 0})
    # The library that measured each ceiling (env.json "sgemm" -> "library" per thread count).
    libraries = (p.env.get("sgemm") or {}).get("library") or {}
    for s, t in ceilings:
        lib = libraries.get(str(t), "")
        ax.axhline(s, color="black", linestyle="--", linewidth=1)
        ax.annotate(f"SGEMM ceiling (same run) {s:.0f} GFLOP/s, {t} thread(s)" + (f", {lib}" if lib else ""),
                    (0.01, s), xycoords=("axes fraction", "data"), va="bottom", fontsize=8)
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
    if not p.written:
        print(f"plot.py: nothing to plot in {a.dir} (no timed cells in a known section: seq-sweep, "
              "heads-sweep, threads, variants)", file=sys.stderr)
        return 0
    print(f"plots: {len(p.written)} files in {outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
