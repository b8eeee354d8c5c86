#!/usr/bin/env python3
"""Run attention in other frameworks ("peers") on attnbench problems, check and time them.

    build/peers-venv/bin/python peers/run_peers.py --attnbench build/bin/attnbench \\
        --variant mha --seq-len 64,256 --heads 4 --d-in 48 --d-out 48 --out results/peers

For every config of the grid (cartesian product, as in `attnbench run`):
  1. inputs: `attnbench run --backend naive --dump DIR --data-seed S` writes x.npy, w_*.npy,
     b_*.npy and problem.json (without --attnbench they are generated here in the same layout);
  2. reference: numpy float64 (scripts/reference.py's attention(), dropout mask included);
  3. each peer computes the output once; relative L2 error vs the reference above the attnbench
     tolerance (16 u sqrt(L) (1 + max|score|), harness/validate.cpp) is FAIL and is not timed;
  4. a PASS peer is timed: warm-up, then --repetitions repetitions of n calls each (n chosen so a
     repetition lasts >= --min-time); median / mean / stddev / cv / min per call.
Rows go to OUT/summary.csv with the columns of the bench summary.csv (harness/bench/
report_csv.cpp), section "peers", backend "peer-<framework>", the framework version in the
name ("peer-onnxruntime@1.17.1/mha/B:1/..."); OUT/peers.json holds the versions and settings.

Peers:
  onnxruntime  a generated ONNX graph: MatMul/Add (projections), Reshape/Transpose (heads),
               MatMul + Mul (scaled scores), Add of a constant 0/-inf causal mask, Softmax,
               Mul by a constant dropout mask (the shared counter-based mask of dropout.h,
               prepared outside the timing, already scaled by 1/(1-p)), MatMul, output MatMul/Add.
  torch        torch.nn.functional.scaled_dot_product_attention(is_causal=...) between torch
               matmuls. Its dropout uses torch's RNG, not attnbench's mask: dropout > 0 configs
               are SKIPPED for torch.
Exit code: 0 all checked peers PASS (or SKIPPED/UNSUPPORTED), 1 a FAIL, 2 bad input.
"""
import argparse
import csv
import importlib.util
import itertools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import frameworks  # noqa: E402  (peers/frameworks: one module per framework)
from frameworks.common import reference  # noqa: E402

VARIANTS = ("simplified", "self", "causal", "mha")
COLUMNS = ["section", "backend", "variant", "batch", "seq_len", "d_in", "d_out", "heads", "head_dim", "qkv_proj",
           "causal", "qkv_bias", "out_proj", "dropout", "threads", "name", "status", "reason", "median_s", "mean_s",
           "stddev_s", "cv", "min_s", "repetitions", "iterations", "flops", "gflops", "sgemm_gflops", "pct_sgemm",
           "baseline", "speedup", "workspace_bytes", "rotation", "predicted_s", "max_abs_err", "rel_l2_err",
           "tol_rel_l2"]


def make_problem(variant, B, T, din, dout, H, dropout, bias, seed, causal=None):
    """The same defaults as attnbench's MakeProblem (include/attnbench/problem.hpp)."""
    simplified = variant == "simplified"
    return {"variant": variant, "batch": B, "seq_len": T, "d_in": din, "d_out": din if simplified else dout,
            "heads": H, "qkv_proj": not simplified, "qkv_bias": bool(bias) and not simplified,
            "out_proj": variant == "mha",
            "causal": (variant in ("causal", "mha")) if causal is None else causal,
            "dropout_p": float(np.float32(dropout)), "dropout_seed": seed}


def head_dim(p):
    return p["d_out"] // p["heads"]


def flops(p):
    """harness/bench/flop_model.cpp."""
    B, T, din, dout, H, hd = p["batch"], p["seq_len"], p["d_in"], p["d_out"], p["heads"], head_dim(p)
    pairs = T * (T + 1) / 2 if p["causal"] else T * T
    f = 4.0 * B * H * pairs * hd
    if p["qkv_proj"]:
        f += 6.0 * B * T * din * dout
    if p["out_proj"]:
        f += 2.0 * B * T * dout * dout
    return f


def bench_name(backend, p, threads):
    """harness/bench/sweep.cpp BenchmarkName."""
    s = (f"{backend}/{p['variant']}/B:{p['batch']}/T:{p['seq_len']}/din:{p['d_in']}/dout:{p['d_out']}"
         f"/H:{p['heads']}/threads:{threads}")
    if p["causal"] != (p["variant"] in ("causal", "mha")):
        s += f"/causal:{int(p['causal'])}"
    if p["dropout_p"] > 0:
        s += f"/dropout:{p['dropout_p']:g}"
    if p["qkv_bias"]:
        s += "/bias"
    return s


def tolerance(p, max_abs_score):
    """harness/validate.cpp ComputeTolerance (rel_l2)."""
    u = 2.0 ** -24
    L = (p["d_in"] if p["qkv_proj"] else 0) + head_dim(p) + p["seq_len"] + (p["d_out"] if p["out_proj"] else 0)
    return 16.0 * u * math.sqrt(L) * (1.0 + max_abs_score)


def max_abs_score(p, x, w):
    x = x.astype(np.float64)
    hd = head_dim(p)
    if p["qkv_proj"]:
        q = x @ w["w_q"] + (w["b_q"] if p["qkv_bias"] else 0.0)
        k = x @ w["w_k"] + (w["b_k"] if p["qkv_bias"] else 0.0)
        scale = 1.0 / math.sqrt(hd)
    else:
        q = k = x
        scale = 1.0
    m = 0.0
    for b in range(p["batch"]):
        for h in range(p["heads"]):
            c = slice(h * hd, (h + 1) * hd)
            s = np.abs(q[b, :, c] @ k[b, :, c].T) * scale
            if p["causal"]:
                s = np.tril(s)
            m = max(m, float(s.max()))
    return m


def write_inputs(args, p, d, data_seed):
    """x.npy, weights and problem.json in d: through `attnbench run --dump`, else here."""
    if args.attnbench:
        cmd = [args.attnbench, "run", "--backend", "naive", "--dump", d, "--data-seed", str(data_seed),
               "--variant", p["variant"], "--batch", str(p["batch"]), "--seq-len", str(p["seq_len"]),
               "--d-in", str(p["d_in"]), "--d-out", str(p["d_out"]), "--heads", str(p["heads"]),
               "--dropout", repr(p["dropout_p"]), "--seed", str(p["dropout_seed"]),
               "--qkv-bias", str(int(p["qkv_bias"])), "--threads", str(args.threads),
               "--causal" if p["causal"] else "--no-causal"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"attnbench run failed ({r.returncode}): {r.stdout}{r.stderr}")
        return
    rng = np.random.default_rng(data_seed)
    B, T, din, dout = p["batch"], p["seq_len"], p["d_in"], p["d_out"]
    np.save(os.path.join(d, "x.npy"), rng.uniform(-1, 1, (B, T, din)).astype(np.float32))
    if p["qkv_proj"]:
        for n in "qkv":
            np.save(os.path.join(d, f"w_{n}.npy"), (rng.uniform(-1, 1, (din, dout)) / math.sqrt(din)).astype(np.float32))
            if p["qkv_bias"]:
                np.save(os.path.join(d, f"b_{n}.npy"), rng.uniform(-0.1, 0.1, dout).astype(np.float32))
    if p["out_proj"]:
        np.save(os.path.join(d, "w_o.npy"), (rng.uniform(-1, 1, (dout, dout)) / math.sqrt(dout)).astype(np.float32))
        np.save(os.path.join(d, "b_o.npy"), rng.uniform(-0.1, 0.1, dout).astype(np.float32))
    with open(os.path.join(d, "problem.json"), "w") as f:
        json.dump(dict(p, head_dim=head_dim(p), data_seed=data_seed), f, indent=2)


def load_inputs(d):
    with open(os.path.join(d, "problem.json")) as f:
        prob = json.load(f)
    x = np.load(os.path.join(d, "x.npy"))
    w = {n: np.load(os.path.join(d, n + ".npy")) for n in ("w_q", "w_k", "w_v", "b_q", "b_k", "b_v", "w_o", "b_o")
         if os.path.exists(os.path.join(d, n + ".npy"))}
    return prob, x, w


PEERS = frameworks.PEERS



def time_calls(fn, repetitions, min_time):
    fn()  # warm-up
    n, t0 = 1, time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    n = max(1, int(math.ceil(min_time / one)))
    per_call = []
    for _ in range(repetitions):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        per_call.append((time.perf_counter() - t0) / n)
    med = statistics.median(per_call)
    mean = statistics.fmean(per_call)
    sd = statistics.stdev(per_call) if len(per_call) > 1 else 0.0
    return {"median_s": med, "mean_s": mean, "stddev_s": sd, "cv": sd / mean if mean > 0 else 0.0,
            "min_s": min(per_call), "repetitions": repetitions, "iterations": n}


def csv_num(v):
    """Like report_csv.cpp: integers as integers, doubles in shortest round-trip form."""
    if isinstance(v, (bool, int)):
        return str(int(v))
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attnbench", help="the attnbench binary that writes the inputs (default: generate them here)")
    ap.add_argument("--peers", default="onnxruntime,torch", help="comma list of %s (default: all)" % ",".join(PEERS))
    ap.add_argument("--require", action="store_true", help="a requested peer that is not installed is an error")
    ap.add_argument("--variant", default="mha")
    ap.add_argument("--batch", default="1")
    ap.add_argument("--seq-len", default="64")
    ap.add_argument("--heads", default="4")
    ap.add_argument("--d-in", default="48")
    ap.add_argument("--d-out", default="48")
    ap.add_argument("--dropout", default="0")
    ap.add_argument("--qkv-bias", default="0")
    ap.add_argument("--seed", type=int, default=1, help="dropout seed")
    ap.add_argument("--data-seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repetitions", type=int, default=10)
    ap.add_argument("--min-time", type=float, default=0.05, help="seconds per repetition (default 0.05)")
    ap.add_argument("--out", help="directory for summary.csv and peers.json (default: print only)")
    ap.add_argument("--keep-inputs", action="store_true", help="keep the per-config input directories under OUT")
    args = ap.parse_args()

    ints = lambda s: [int(v) for v in s.split(",") if v]
    try:
        variants = [v for v in args.variant.split(",") if v]
        for v in variants:
            if v not in VARIANTS:
                raise ValueError(f"unknown variant '{v}'")
        peers = [n for n in args.peers.split(",") if n]
        for n in peers:
            if n not in PEERS:
                raise ValueError(f"unknown peer '{n}' (known: {', '.join(PEERS)})")
        grid = list(itertools.product(variants, ints(args.batch), ints(args.seq_len), ints(args.d_in),
                                      ints(args.d_out), ints(args.heads), [float(v) for v in args.dropout.split(",")],
                                      ints(args.qkv_bias)))
    except ValueError as e:
        print(f"run_peers: {e}", file=sys.stderr)
        return 2

    versions = {n: PEERS[n].available() for n in peers}
    for n, ver in versions.items():
        if ver is None:
            msg = f"run_peers: peer {n} not importable in {sys.executable}"
            if args.require:
                print(msg, file=sys.stderr)
                return 2
            print(msg + ": skipped (scripts/setup-peers installs it)", file=sys.stderr)
    rows, failed = [], False
    work = tempfile.mkdtemp(prefix="attnbench-peers-")
    for idx, (variant, B, T, din, dout, H, dropout, bias) in enumerate(grid):
        p = make_problem(variant, B, T, din, dout, H, dropout, bias, args.seed)
        if p["d_out"] % H:
            print(f"run_peers: heads {H} do not divide d_out {p['d_out']}: skipped", file=sys.stderr)
            continue
        d = os.path.join(args.out, "inputs", f"cfg{idx}") if args.out and args.keep_inputs else os.path.join(work, f"cfg{idx}")
        os.makedirs(d, exist_ok=True)
        write_inputs(args, p, d, args.data_seed)
        _, x, w = load_inputs(d)
        w64 = {k: v.astype(np.float64) for k, v in w.items()}
        ref = None
        for n in peers:
            ver = versions[n]
            if ver is None:
                continue
            peer = PEERS[n]
            backend = "peer-" + n
            row = {c: "" for c in COLUMNS}
            row.update(section="peers", backend=backend, variant=variant, batch=B, seq_len=T, d_in=p["d_in"],
                       d_out=p["d_out"], heads=H, head_dim=head_dim(p), qkv_proj=int(p["qkv_proj"]),
                       causal=int(p["causal"]), qkv_bias=int(p["qkv_bias"]), out_proj=int(p["out_proj"]),
                       dropout=p["dropout_p"], threads=args.threads,
                       name=bench_name(f"{backend}@{ver}", p, args.threads), flops=flops(p), rotation=1)
            for c in ("median_s", "mean_s", "stddev_s", "cv", "min_s", "repetitions", "iterations", "gflops",
                      "sgemm_gflops", "pct_sgemm", "speedup", "workspace_bytes", "predicted_s", "max_abs_err",
                      "rel_l2_err", "tol_rel_l2"):
                row[c] = 0
            why = peer.supports(p)
            if why:
                row.update(status="UNSUPPORTED", reason=why)
                rows.append(row)
                print(f"UNSUPPORTED {row['name']}: {why}")
                continue
            if ref is None:
                ref = reference.attention(p, x, w64)
                tol = tolerance(p, max_abs_score(p, x, w64))
            try:
                run = peer.prepare(p, x, w, args.threads)
                got = np.asarray(run(), dtype=np.float64)
            except Exception as e:  # noqa: BLE001 - a peer's error is a row, not a crash
                row.update(status="ERROR", reason=f"{type(e).__name__}: {e}".replace("\n", " ")[:300])
                rows.append(row)
                failed = True
                print(f"ERROR {row['name']}: {row['reason']}")
                continue
            if got.shape != ref.shape:
                rel, mx = float("inf"), float("inf")
            else:
                rel = float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-300))
                mx = float(np.abs(got - ref).max())
            row.update(max_abs_err=mx, rel_l2_err=rel, tol_rel_l2=tol)
            if not rel <= tol:
                row.update(status="FAIL", reason=f"relative L2 error {rel:.3g} above tolerance {tol:.3g}")
                failed = True
                print(f"FAIL {row['name']}: {row['reason']}")
                rows.append(row)
                continue
            t = time_calls(run, args.repetitions, args.min_time)
            row.update(t, status="PASS", gflops=row["flops"] / t["median_s"] / 1e9)
            rows.append(row)
            print(f"PASS {row['name']}: rel_l2 {rel:.3g} (tol {tol:.3g}), median {t['median_s'] * 1e3:.4g} ms, "
                  f"cv {t['cv']:.3f}, {row['gflops']:.3g} GFLOP/s")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "summary.csv"), "w", newline="") as f:
            wr = csv.writer(f, lineterminator="\n")
            wr.writerow(COLUMNS)
            for r in rows:
                wr.writerow([csv_num(r[c]) if isinstance(r[c], (int, float)) else r[c] for c in COLUMNS])
        with open(os.path.join(args.out, "peers.json"), "w") as f:
            json.dump({"peers": {n: v for n, v in versions.items()}, "python": sys.version.split()[0],
                       "numpy": np.__version__, "machine": platform.machine(), "threads": args.threads,
                       "repetitions": args.repetitions, "min_time_s": args.min_time, "data_seed": args.data_seed,
                       "inputs": "attnbench run --dump" if args.attnbench else "generated by run_peers.py",
                       "argv": sys.argv[1:]}, f, indent=2)
        print(f"wrote {os.path.join(args.out, 'summary.csv')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
