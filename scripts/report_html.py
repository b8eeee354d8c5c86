#!/usr/bin/python3
"""report.html of an attnbench results directory: one self-contained file (no network, no script,
the plots inlined as SVG) with the machine, the peaks, the peers, every cell's table and the
failures with their reproducer lines and diagnoses.

  report_html.py DIR [--failures FILE]

Reads DIR/summary.csv, DIR/env.json and the SVGs in DIR/plots/ (`attnbench plot DIR` draws them
first, then runs this with FILE = the failures' reproducer lines and diagnoses as JSON, a list of
{"name", "backend", "config", "status", "reason", "repro", "diagnosis"}). Writes DIR/report.html
atomically. Standard library only.
"""
import argparse
import csv
import html
import json
import os
import re
import sys

TIMED = {"PASS", "MISTRUSTED"}
CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; } tr.FAIL td, tr.CRASHED td, tr.TIMEOUT td { background: #fde8e8; }
tr.MISTRUSTED td { background: #fff6db; } code { background: #f5f5f5; padding: 1px 3px; }
figure { margin: 1em 0 2em; } figure svg { max-width: 100%; height: auto; }
.warn { color: #a00; font-weight: bold; }
"""


def esc(v):
    return html.escape(str(v), quote=True)


def read_rows(d):
    with open(os.path.join(d, "summary.csv"), newline="") as f:
        return list(csv.DictReader(f))


def read_json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def fmt_time(s):
    try:
        v = float(s)
    except (TypeError, ValueError):
        return ""
    if v <= 0:
        return ""
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if v >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v * 1e9:.3g} ns"


def fmt_num(s, digits=3):
    try:
        v = float(s)
    except (TypeError, ValueError):
        return esc(s)
    return f"{v:.{digits}g}" if v else ""


def table(headers, rows, num_cols=(), row_class=None):
    out = ["<table>" + ("<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr></thead>"
                        if any(headers) else "") + "<tbody>"]
    for i, r in enumerate(rows):
        cls = f' class="{esc(row_class[i])}"' if row_class else ""
        out.append(f"<tr{cls}>" + "".join(
            f'<td class="num">{c}</td>' if j in num_cols else f"<td>{c}</td>" for j, c in enumerate(r)) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def section_machine(env):
    cpu, blas, comp = env.get("cpu", {}), env.get("blas", {}), env.get("compiler", {})
    rows = [("CPU", esc(f"{cpu.get('model', '?')}, {cpu.get('cores', '?')} cores, ISA {cpu.get('isa', '?')}")),
            ("BLAS", esc(f"{blas.get('library', '?')} {blas.get('version', '')}, kernel {blas.get('kernel', '?')}")),
            ("compiler", esc(f"GCC {comp.get('id', '?')} {comp.get('build_type', '')} flags {comp.get('flags', '')}")),
            ("Google Benchmark", esc(env.get("google_benchmark", ""))),
            ("timing", esc((env.get("timing") or {}).get("description", ""))),
            ("cache policy", esc((env.get("timing") or {}).get("cache", ""))),
            ("date, commit", esc(f"{env.get('date', '')}, {(env.get('git') or {}).get('commit', '')}"))]
    if blas.get("kernel_warning"):
        rows.append(("warning", f'<span class="warn">{esc(blas["kernel_warning"])}</span>'))
    # Each plugin's file and how it was built (env.json "plugins", from attnbench_build_info): the
    # compiler row above is attnbench's own, not a plugin built elsewhere.
    for name, info in sorted((env.get("plugins") or {}).items()):
        if not isinstance(info, dict):
            rows.append((f"plugin {esc(name)}", esc(info if isinstance(info, str) else json.dumps(info))))
            continue
        text = f"{info.get('file', '?')}: {info.get('build', 'unknown')}"
        rows.append((f"plugin {esc(name)}", f"<code>{esc(text)}</code>"))
        if info.get("warning"):
            rows.append(("warning", f'<span class="warn">{esc(info["warning"])}</span>'))
    return "<h2 id=\"machine\">Machine</h2>\n" + table(["", ""], rows)


def section_peaks(env):
    """The measured roofs per thread count (env.json "machine", docs/machine.md), then the best
    SGEMM of the run as a reference (not a roof) with its own share of the peak."""
    fma, triad, isa = {}, {}, {}
    machine = env.get("machine") if isinstance(env.get("machine"), dict) else {}
    for f in machine.get("fma", []):
        t, g = str(f.get("threads", "")), float(f.get("gflops", 0) or 0)
        if g > fma.get(t, 0):
            fma[t], isa[t] = g, f.get("isa", "")
    for b in machine.get("bandwidth", []):
        if b.get("kernel") == "triad":
            t = str(b.get("threads", ""))
            triad[t] = max(triad.get(t, 0), float(b.get("gbytes_per_s", 0) or 0))
    sgemm = env.get("sgemm_gflops") or {}
    libs = (env.get("sgemm") or {}).get("library") or {}
    rows = []
    for t in sorted(set(fma) | set(sgemm), key=lambda k: int(k) if k.isdigit() else 0):
        g = float(sgemm.get(t, 0) or 0)
        share = f"{100 * g / fma[t]:.0f} %" if t in fma and fma[t] > 0 and 0 < g <= fma[t] else \
            ("above the peak: the peak measurement is wrong" if t in fma and g > fma[t] else "")
        rows.append((esc(t), f"{fma[t]:.1f}" if t in fma else "-", esc(isa.get(t, "")),
                     f"{triad[t]:.1f}" if t in triad else "-", f"{g:.1f}" if g else "-", esc(libs.get(t, "")), share))
    out = "<h2 id=\"peaks\">Peaks</h2>\n"
    out += table(["threads", "measured FMA peak GFLOP/s", "ISA", "memory GB/s (triad)", "best SGEMM GFLOP/s (reference)",
                  "SGEMM library", "SGEMM % of peak"], rows, num_cols=(1, 3, 4)) if rows else "<p>none recorded</p>"
    src = env.get("machine_source") or {}
    if src.get("disturbed"):
        out += f'<p class="warn">The peaks were measured while other work had the cores ({esc(src["disturbed"])}): ' \
               "they are too low, so every % of peak is too high.</p>"
    return out


def section_peers(env, cells):
    peers = sorted({r["backend"] for r in cells if r["backend"].startswith("peer-")})
    info = env.get("peers") or {}
    out = "<h2 id=\"peers\">Peers</h2>\n"
    if not peers and not info:
        return out + "<p>No framework peers in this run (<code>bench --peers auto</code> adds the installed ones).</p>"
    rows = [(esc(p), esc(json.dumps(info.get(p[5:], info.get(p, ""))) if info else "")) for p in peers]
    if not rows and info:
        rows = [(esc(k), esc(json.dumps(v))) for k, v in sorted(info.items())]
    return out + table(["peer", "framework, version, kernels"], rows)


def pct_peak(r):
    """% of the measured peak, never a figure above 100 % of it (report.md's rule)."""
    try:
        g, peak, pct = float(r.get("gflops") or 0), float(r.get("peak_gflops") or 0), float(r.get("pct_peak") or 0)
    except ValueError:
        return ""
    if peak > 0 and g > peak:
        return '<span class="warn">above peak</span>'
    return f"{pct:.1f}%" if peak > 0 and g > 0 else ""


def pct_bandwidth(r):
    """The byte model's traffic per second as % of the measured triad bandwidth (decode's figure);
    empty when no bandwidth was measured or the cell was not timed (an older summary.csv: no column)."""
    try:
        gbs, roof = float(r.get("achieved_gbs") or 0), float(r.get("bandwidth_gbs") or 0)
    except ValueError:
        return ""
    return f"{100 * gbs / roof:.1f}%" if roof > 0 and gbs > 0 else ""


def mib(v):
    try:
        return f"{int(v) / 2**20:.1f} MiB"
    except (TypeError, ValueError):
        return "-"


def memory(r):
    claimed = "-" if r["backend"].startswith("peer-") else mib(r.get("workspace_bytes"))
    flag = ' <span class="warn">over</span>' if r.get("memory_flag") else ""
    return esc(f"{mib(r.get('measured_bytes'))} / {claimed}") + flag


def section_cells(cells):
    headers = ["backend", "variant", "B", "T", "d_in", "d_out", "H", "threads", "status", "median", "GFLOP/s",
               "% peak", "GB/s", "% BW", "FLOP/B", "speedup", "memory measured / claimed"]
    rows, classes = [], []
    for r in cells:
        rows.append([esc(r["backend"]), esc(r.get("variant", "")), esc(r.get("batch", "")), esc(r.get("seq_len", "")),
                     esc(r.get("d_in", "")), esc(r.get("d_out", "")), esc(r.get("heads", "")),
                     esc(r.get("threads", "")), esc(r["status"]), fmt_time(r.get("median_s")),
                     fmt_num(r.get("gflops")), pct_peak(r), fmt_num(r.get("achieved_gbs")), pct_bandwidth(r),
                     fmt_num(r.get("intensity")),
                     fmt_num(r.get("speedup")), memory(r)])
        classes.append(r["status"])
    return "<h2 id=\"cells\">Every cell</h2>\n" + table(headers, rows, num_cols=(2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16),
                                                         row_class=classes)


def section_failures(cells, failures):
    bad = [r for r in cells if r["status"] not in TIMED and r["status"] not in ("FILTERED",)]
    out = "<h2 id=\"failures\">Failures and cells not timed</h2>\n"
    if not bad:
        return out + "<p>None: every cell passed validation and was timed.</p>"
    by_name = {f.get("name"): f for f in failures}
    rows = []
    for r in bad:
        f = by_name.get(r.get("name"), {})
        diag = (f.get("diagnosis") or {}).get("message", "")
        repro = f.get("repro", "")
        rows.append([esc(r["backend"]), esc(r.get("name", "")), esc(r["status"]), esc(r.get("reason", "")),
                     f"<code>{esc(repro)}</code>" if repro else "", esc(diag)])
    return out + table(["backend", "cell", "status", "reason", "reproducer", "diagnosis"], rows,
                       row_class=[r["status"] for r in bad])


def inline_svg(path):
    """An SVG file as inline markup: the XML prolog and DOCTYPE dropped (not allowed mid-HTML), and
    the ids made unique per figure (matplotlib reuses clip-path ids across files)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"<\?xml[^>]*\?>", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>", "", text, flags=re.S)
    prefix = re.sub(r"[^A-Za-z0-9]", "_", os.path.basename(path)) + "_"
    ids = set(re.findall(r'id="([^"]+)"', text))
    for i in sorted(ids, key=len, reverse=True):
        text = text.replace(f'id="{i}"', f'id="{prefix}{i}"').replace(f"#{i})", f"#{prefix}{i})").replace(
            f'"#{i}"', f'"#{prefix}{i}"')
    return text.strip()


def section_plots(d):
    plots = os.path.join(d, "plots")
    svgs = sorted(f for f in os.listdir(plots) if f.endswith(".svg") and not f.startswith(".")) if os.path.isdir(plots) else []
    out = "<h2 id=\"plots\">Plots</h2>\n"
    if not svgs:
        return out + "<p>No SVG plots (no timed cell, or <code>attnbench plot --formats</code> without svg).</p>"
    for f in svgs:
        out += f'<figure id="fig-{esc(f[:-4])}">{inline_svg(os.path.join(plots, f))}<figcaption>{esc(f[:-4])}' \
               "</figcaption></figure>\n"
    return out


def build(d, failures):
    env = read_json(os.path.join(d, "env.json"), {})
    cells = read_rows(d)
    timed = sum(r["status"] in TIMED for r in cells)
    title = f"attnbench report: {os.path.basename(os.path.abspath(d))}"
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(title)}</title>",
             f"<style>{CSS}</style></head><body>",
             f"<h1>{esc(title)}</h1>",
             f"<p>{len(cells)} cells, {timed} validated and timed; preset {esc(env.get('preset', ''))}. "
             "Every timed cell was checked against the float64 reference first.</p>",
             '<p><a href="#machine">machine</a> · <a href="#peaks">peaks</a> · <a href="#peers">peers</a> · '
             '<a href="#plots">plots</a> · <a href="#cells">cells</a> · <a href="#failures">failures</a></p>',
             section_machine(env), section_peaks(env), section_peers(env, cells), section_plots(d),
             section_cells(cells), section_failures(cells, failures), "</body></html>\n"]
    return "\n".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="results directory written by `attnbench bench`")
    ap.add_argument("--failures", help="JSON file: the failures' reproducer lines and diagnoses")
    a = ap.parse_args()
    if not os.path.isfile(os.path.join(a.dir, "summary.csv")):
        print(f"report_html.py: {a.dir}: no summary.csv", file=sys.stderr)
        return 2
    failures = read_json(a.failures, []) if a.failures else []
    text = build(a.dir, failures)
    path = os.path.join(a.dir, "report.html")
    tmp = os.path.join(a.dir, f".report.html.tmp.{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
