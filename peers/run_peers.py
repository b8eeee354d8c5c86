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
     repetition lasts >= --min-time); median / mean / stddev / cv / min per call. With --budget,
     a peer whose repetitions would exceed it is SKIPPED.
Rows go to OUT/summary.csv with the columns of the bench summary.csv (harness/bench/
report_csv.cpp), section "peers", backend and name "peer-<framework>/mha/B:1/..."; OUT/peers.json
holds each framework's version and what it says about its kernels, and the settings.

`attnbench bench --peers LIST` runs this with --manifest: the configs of its sweep, their inputs
written by the bench itself (the very x and weights its backends were validated and timed on),
and merges the rows into its summary, report and plots (docs/peers.md).

Peers (peers/frameworks/, one module each; docs/peers.md has the details):
  onnxruntime            a generated opset-13 ONNX graph (MatMul, Softmax, ...; constant causal and
                         dropout masks), CPU execution provider
  onnxruntime-attention  ORT's fused com.microsoft.Attention contrib operator + output MatMul/Add
  openvino               OpenVINO graph around its fused ScaledDotProductAttention, CPU plugin, f32
  torch                  torch.nn.functional.scaled_dot_product_attention between torch matmuls
  torch-mha              torch.nn.MultiheadAttention (mha variant only)
  Only onnxruntime, openvino (and the test peers) run dropout > 0 configs: the others have no
  way to take attnbench's counter-based mask, so those rows are UNSUPPORTED.
Exit code: 0 all checked peers PASS (or SKIPPED/UNSUPPORTED), 1 a FAIL or ERROR, 2 bad input.
"""
import argparse
import csv
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


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import frameworks  # noqa: E402  (peers/frameworks: one module per framework)
from frameworks.common import head_dim, reference  # noqa: E402

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
    """x and the weights a problem has, from d (problem.json, if there, is not needed)."""
    x = np.load(os.path.join(d, "x.npy"))
    w = {n: np.load(os.path.join(d, n + ".npy")) for n in ("w_q", "w_k", "w_v", "b_q", "b_k", "b_v", "w_o", "b_o")
         if os.path.exists(os.path.join(d, n + ".npy"))}
    return x, w


PEERS = dict(frameworks.PEERS)
if os.environ.get("ATTNBENCH_PEERS_TESTING") == "1":
    import testing_peers  # noqa: E402
    PEERS.update(testing_peers.PEERS)



def time_calls(fns, repetitions, min_time, budget=None):
    """Median etc. per call, cycling through fns (copies of the prepared peer on copies of the
    data: the bench's cold-cache rotation). With a budget (seconds for the whole measurement), a
    call so slow that the repetitions would not fit returns None (the row becomes SKIPPED)."""
    fn = fns[0]
    for f in fns[1:]:
        f()  # first call of each copy outside the timing
    t0 = time.perf_counter()
    fn()  # warm-up (the validation call before was the first one)
    one = max(time.perf_counter() - t0, 1e-7)
    if budget is not None and one * repetitions > budget:
        return None, one
    n = max(1, int(math.ceil(min_time / one)))
    per_call = []
    for _ in range(repetitions):
        t0 = time.perf_counter()
        for i in range(n):
            fns[i % len(fns)]()
        per_call.append((time.perf_counter() - t0) / n)
    med = statistics.median(per_call)
    mean = statistics.fmean(per_call)
    sd = statistics.stdev(per_call) if len(per_call) > 1 else 0.0
    return {"median_s": med, "mean_s": mean, "stddev_s": sd, "cv": sd / mean if mean > 0 else 0.0,
            "min_s": min(per_call), "repetitions": repetitions, "iterations": n}, one


def csv_num(v):
    """Like report_csv.cpp: integers as integers, doubles in shortest round-trip form."""
    if isinstance(v, (bool, int)):
        return str(int(v))
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def peer_info(name):
    """{"version": ..., ...} or None when the framework is not importable."""
    peer = PEERS[name]
    ver = peer.available()
    if ver is None:
        return None
    try:
        info = dict(peer.info())
    except Exception as e:  # noqa: BLE001 - info is a courtesy, not a reason to fail
        info = {"info_error": f"{type(e).__name__}: {e}"}
    info.setdefault("version", ver)
    return info


def grid_configs(args):
    """The cartesian grid of the command line: [(section, name template, problem, threads, inputs dir)]."""
    ints = lambda s: [int(v) for v in s.split(",") if v]
    variants = [v for v in args.variant.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            raise ValueError(f"unknown variant '{v}'")
    grid = list(itertools.product(variants, ints(args.batch), ints(args.seq_len), ints(args.d_in),
                                  ints(args.d_out), ints(args.heads), [float(v) for v in args.dropout.split(",")],
                                  ints(args.qkv_bias)))
    out = []
    for variant, B, T, din, dout, H, dropout, bias in grid:
        p = make_problem(variant, B, T, din, dout, H, dropout, bias, args.seed)
        if p["d_out"] % H:
            print(f"run_peers: heads {H} do not divide d_out {p['d_out']}: skipped", file=sys.stderr)
            continue
        out.append(("peers", bench_name("{backend}", p, args.threads), p, args.threads, None, 1, None))
    return out


def manifest_configs(path):
    """The configs `attnbench bench --peers` wrote: their inputs are already on disk."""
    with open(path) as f:
        m = json.load(f)
    if m.get("format") != "attnbench-peers-1":
        raise ValueError(f"{path}: not an attnbench peers manifest (format {m.get('format')!r})")
    base = os.path.dirname(os.path.abspath(path))
    out = []
    for c in m["configs"]:
        pr = c["problem"]
        p = make_problem(pr["variant"], pr["batch"], pr["seq_len"], pr["d_in"], pr["d_out"], pr["heads"],
                         pr["dropout_p"], pr["qkv_bias"], pr["dropout_seed"], causal=bool(pr["causal"]))
        out.append((c["section"], c["name"], p, int(c["threads"]), os.path.join(base, c["dir"]), int(c.get("rotation", 1)),
                    c.get("peers")))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attnbench", help="the attnbench binary that writes the inputs (default: generate them here)")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma list of %s (default: all)" % ",".join(PEERS))
    ap.add_argument("--require", action="store_true", help="a requested peer that is not installed is an error")
    ap.add_argument("--probe", action="store_true",
                    help="print {peer: info or null} as JSON for the requested peers and exit")
    ap.add_argument("--manifest", help="configs and inputs written by `attnbench bench --peers` (instead of the grid)")
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
    ap.add_argument("--budget", type=float, help="seconds per cell: a peer whose repetitions would take longer is "
                    "SKIPPED (default: no limit)")
    ap.add_argument("--out", help="directory for summary.csv and peers.json (default: print only)")
    ap.add_argument("--keep-inputs", action="store_true", help="keep the per-config input directories under OUT")
    args = ap.parse_args()

    try:
        peers = [n for n in args.peers.split(",") if n]
        for n in peers:
            if n not in PEERS:
                raise ValueError(f"unknown peer '{n}' (known: {', '.join(PEERS)})")
        if args.repetitions < 1 or not args.min_time > 0 or (args.budget is not None and not args.budget > 0):
            raise ValueError("--repetitions must be >= 1, --min-time and --budget > 0")
        if args.probe:
            print(json.dumps({n: peer_info(n) for n in peers}))
            return 0
        configs = manifest_configs(args.manifest) if args.manifest else grid_configs(args)
    except (ValueError, KeyError, OSError) as e:
        print(f"run_peers: {e}", file=sys.stderr)
        return 2

    infos = {n: peer_info(n) for n in peers}
    for n, info in infos.items():
        if info is None:
            msg = f"run_peers: peer {n} not importable in {sys.executable}"
            if args.require:
                print(msg, file=sys.stderr)
                return 2
            print(msg + ": skipped (scripts/setup-peers installs it)", file=sys.stderr)
    active = [n for n in peers if infos[n] is not None]
    rows, failed = [], False
    work = tempfile.mkdtemp(prefix="attnbench-peers-")
    total = sum(len([n for n in active if c[6] is None or n in c[6]]) for c in configs)
    done = 0
    for idx, (section, name_tmpl, p, threads, inputs, rotation, only) in enumerate(configs):
        if not active:
            break
        if inputs is None:
            d = os.path.join(args.out, "inputs", f"cfg{idx}") if args.out and args.keep_inputs else os.path.join(work, f"cfg{idx}")
            os.makedirs(d, exist_ok=True)
            write_inputs(args, p, d, args.data_seed)
            inputs = d
        x, w = load_inputs(inputs)
        w64 = {k: v.astype(np.float64) for k, v in w.items()}
        ref = None
        for n in active:
            if only is not None and n not in only:  # the bench's --benchmark_filter left it out
                continue
            peer = PEERS[n]
            backend = "peer-" + n
            done += 1
            row = {c: "" for c in COLUMNS}
            row.update(section=section, backend=backend, variant=p["variant"], batch=p["batch"], seq_len=p["seq_len"],
                       d_in=p["d_in"], d_out=p["d_out"], heads=p["heads"], head_dim=head_dim(p),
                       qkv_proj=int(p["qkv_proj"]), causal=int(p["causal"]), qkv_bias=int(p["qkv_bias"]),
                       out_proj=int(p["out_proj"]), dropout=p["dropout_p"], threads=threads,
                       name=name_tmpl.replace("{backend}", backend), flops=flops(p), rotation=rotation)
            for c in ("median_s", "mean_s", "stddev_s", "cv", "min_s", "repetitions", "iterations", "gflops",
                      "sgemm_gflops", "pct_sgemm", "speedup", "workspace_bytes", "predicted_s", "max_abs_err",
                      "rel_l2_err", "tol_rel_l2"):
                row[c] = 0
            tag = f"[{done}/{total}] {row['name']}"
            why = peer.supports(p)
            if why:
                row.update(status="UNSUPPORTED", reason=why)
                rows.append(row)
                print(f"{tag}: UNSUPPORTED: {why}", flush=True)
                continue
            if ref is None:
                ref = reference.attention(p, x, w64)
                tol = tolerance(p, max_abs_score(p, x, w64))
            try:
                run = peer.prepare(p, x, w, threads)
                got = np.asarray(run(), dtype=np.float64)
            except Exception as e:  # noqa: BLE001 - a peer's error is a row, not a crash
                row.update(status="ERROR", reason=f"{type(e).__name__}: {e}".replace("\n", " ")[:300])
                rows.append(row)
                failed = True
                print(f"{tag}: ERROR: {row['reason']}", flush=True)
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
                print(f"{tag}: FAIL: {row['reason']}", flush=True)
                rows.append(row)
                continue
            try:  # the other copies: separate data, separately prepared (no shared buffers)
                if getattr(peer, "rotate_inputs_only", False):  # one prepared peer, copies of x
                    fns = [run] + [(lambda xc: lambda: run(xc))(np.ascontiguousarray(x.copy(), dtype=np.float32))
                                   for _ in range(rotation - 1)]
                else:
                    fns = [run] + [peer.prepare(p, x.copy(), {k: v.copy() for k, v in w.items()}, threads)
                                   for _ in range(rotation - 1)]
            except Exception as e:  # noqa: BLE001
                row.update(status="ERROR", reason=f"preparing copy: {type(e).__name__}: {e}".replace("\n", " ")[:300])
                rows.append(row)
                failed = True
                print(f"{tag}: ERROR: {row['reason']}", flush=True)
                continue
            t, one = time_calls(fns, args.repetitions, args.min_time, args.budget)
            del fns
            if t is None:
                row.update(status="SKIPPED", predicted_s=one,
                           reason=f"one call took {one:.3g} s: {args.repetitions} repetitions exceed the "
                                  f"{args.budget:g} s budget")
                rows.append(row)
                print(f"{tag}: SKIPPED: {row['reason']}", flush=True)
                continue
            row.update(t, status="PASS", gflops=row["flops"] / t["median_s"] / 1e9)
            rows.append(row)
            print(f"{tag}: PASS {t['median_s'] * 1e3:.4g} ms (cv {100 * t['cv']:.1f}%), {row['gflops']:.3g} GFLOP/s, "
                  f"rel_l2 {rel:.3g} (tol {tol:.3g})", flush=True)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "summary.csv"), "w", newline="") as f:
            wr = csv.writer(f, lineterminator="\n")
            wr.writerow(COLUMNS)
            for r in rows:
                wr.writerow([csv_num(r[c]) if isinstance(r[c], (int, float)) else r[c] for c in COLUMNS])
        with open(os.path.join(args.out, "peers.json"), "w") as f:
            json.dump({"peers": infos, "python": sys.version.split()[0], "executable": sys.executable,
                       "numpy": np.__version__, "machine": platform.machine(),
                       "repetitions": args.repetitions, "min_time_s": args.min_time, "budget_s": args.budget,
                       "timing": "time.perf_counter around n calls per repetition, after a warm-up call; "
                                 "with a rotation > 1 (from attnbench bench's cold-cache policy) the calls cycle "
                                 "through that many separately prepared copies of the peer and its data",
                       "inputs": ("attnbench bench (manifest " + args.manifest + ")") if args.manifest else
                                 ("attnbench run --dump" if args.attnbench else "generated by run_peers.py"),
                       "argv": sys.argv[1:]}, f, indent=2)
        print(f"wrote {os.path.join(args.out, 'summary.csv')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
