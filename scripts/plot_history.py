#!/usr/bin/python3
"""One backend's median time on one config across the runs of the attnbench history (SQLite,
harness/history/history.h): x = the runs in date order labelled by commit, y = the median with
its stddev as error bars; a marker per host. `attnbench plot --history` runs this.

  plot_history.py DB --backend NAME --config TEXT [--host H] --out FILE.png|svg

--config is matched as a substring of the cell's config ("mha/B:1/T:64/..." or "T:1024");
exactly one config must match (the command lists them otherwise). Exit codes: 0 ok, 2 bad input.
"""
import argparse
import json
import sqlite3
import sys


def fail(msg):
    print(f"plot --history: {msg}", file=sys.stderr)
    sys.exit(2)


def query(db, backend, config, host):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    sql = ("SELECT r.id, r.date, r.host, r.git_commit, r.dirty, r.kind, c.config, c.row_json "
           "FROM cells c JOIN runs r ON c.run_id = r.id "
           "WHERE c.backend = ? AND instr(c.config, ?) > 0")
    args = [backend, config]
    if host:
        sql += " AND r.host = ?"
        args.append(host)
    rows = con.execute(sql + " ORDER BY r.date, r.id", args).fetchall()
    con.close()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("--backend", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--host", default="")
    ap.add_argument("--out", required=True)
    ap.add_argument("--kinds", default="bench,merge",
                    help="run kinds drawn (a shard's cells are also in its merge)")
    a = ap.parse_args()
    try:
        rows = query(a.db, a.backend, a.config, a.host)
    except sqlite3.Error as e:
        fail(f"{a.db}: {e}")
    kinds = set(a.kinds.split(","))
    rows = [r for r in rows if r[5] in kinds]
    configs = sorted({r[6] for r in rows})
    if not configs:
        fail(f"no cell of backend {a.backend} with a config containing '{a.config}' in {a.db}")
    if len(configs) > 1:
        fail(f"'{a.config}' matches {len(configs)} configs, give one of: " + "; ".join(configs))
    points = []
    for rid, date, host, commit, dirty, kind, cfg, row in rows:
        cell = json.loads(row)
        if cell.get("status") not in ("PASS", "MISTRUSTED"):
            continue
        points.append((rid, date, host, commit[:8] + ("+" if dirty else ""), float(cell["median_s"]),
                       float(cell.get("stddev_s") or 0)))
    if not points:
        fail(f"{a.backend} was never timed on {configs[0]} (only untimed statuses)")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(points) + 3), 4.5))
    hosts = sorted({p[2] for p in points})
    markers = "os^Dv<>p*h"
    for hi, h in enumerate(hosts):
        xs = [i for i, p in enumerate(points) if p[2] == h]
        ax.errorbar(xs, [points[i][4] * 1e3 for i in xs], yerr=[points[i][5] * 1e3 for i in xs],
                    marker=markers[hi % len(markers)], linestyle="-", capsize=3, label=h)
    ax.set_xticks(range(len(points)))
    ax.set_xticklabels([f"{p[3]}\n{p[1][:10]}\nrun {p[0]}" for p in points], fontsize=7)
    ax.set_ylabel("median time per call (ms), stddev bars")
    ax.set_title(f"{a.backend} on {configs[0]}", fontsize=9)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(title="host", fontsize=8)
    fig.tight_layout()
    fig.savefig(a.out)
    print(f"{a.out}: {len(points)} runs")


if __name__ == "__main__":
    main()
