#!/usr/bin/env python3
"""Run attention in other frameworks ("peers") on attnbench problems, check and time them.

    build/peers-venv/bin/python peers/run_peers.py --attnbench build/bin/attnbench \\
        --variant mha --seq-len 64,256 --heads 4 --d-in 48 --d-out 48 --out results/peers

The configs come from a manifest written by attnbench (docs/peers.md): `attnbench bench --peers`
writes one for its sweep (--manifest), or, given grid flags (those of `attnbench run`, passed
through; comma lists make a cartesian grid), `attnbench peers-manifest` writes one per point.
The manifest gives, per config, the problem, the inputs (x.npy, w_*.npy, b_*.npy drawn by
attnbench), the cell name, the FLOP count (harness/bench/flop_model.cpp), the tolerance and
summary.csv's problem columns; nothing of that is recomputed here. For every config:
  1. reference: numpy float64 (scripts/reference.py's attention(), dropout mask included);
  2. each peer computes the output once; relative L2 error vs the reference above the attnbench
     tolerance (the manifest's tol_rel_l2_base times 1 + the reference's largest |scaled score|,
     harness/validate.h) is FAIL and is not timed;
  3. a PASS peer is timed: warm-up, then --repetitions repetitions of n calls each (n chosen so a
     repetition lasts >= --min-time), taken in rounds: each round one repetition of every peer of
     the config; median / mean / stddev / cv / min per call. With --budget, a peer whose
     repetitions would exceed it is SKIPPED.
Rows go to OUT/summary.csv with the columns of the bench summary.csv (from the manifest), section
"peers" (or the bench's), backend "peer-<framework>", name "peer-<framework>/mha/B:1/..."; OUT/peers.json
holds each framework's version and what it says about its kernels, and the settings.

`attnbench bench --peers LIST` runs this with --manifest: the configs of its sweep, their inputs
written by the bench itself (the very x and weights its backends were validated and timed on),
and merges the rows into its summary, report and plots (docs/peers.md).

Peers (peers/frameworks/, one module each; docs/peers.md has the details):
  onnxruntime            a generated opset-13 ONNX graph (MatMul, Softmax, ...; constant causal and
                         dropout masks), CPU execution provider; the only one that runs grouped-query
                         heads, sliding windows and the KV cache (kv_heads / window / past_len: K/V
                         groups by Reshape, the window in the mask, the cache as inputs concatenated
                         before the new K/V); the others say UNSUPPORTED for them
  onnxruntime-attention  ORT's fused com.microsoft.Attention contrib operator + output MatMul/Add
  openvino               OpenVINO graph around its fused ScaledDotProductAttention, CPU plugin, f32
  torch                  torch.nn.functional.scaled_dot_product_attention between torch matmuls
  torch-mha              torch.nn.MultiheadAttention (mha variant only)
  Only onnxruntime, openvino (and the test peers) run dropout > 0 configs: the others have no
  way to take attnbench's counter-based mask, so those rows are UNSUPPORTED.
With --paced FD (what the bench uses) the runner says `ready` on FD once the frameworks are
imported and then does what its stdin says, answering on FD (K: a config's index in the manifest):
`run K` checks and times config K's peers (`done K`); or, for the bench's rounds, `prepare K`
checks them and prepares their timing (`prepared K`), `rep K` takes one repetition of each
(`rep K`), once per round of the bench, and `finish K` writes their rows (`done K`); `end`.
So the drift of a shared machine falls on the peers and the backends of a config alike.
Exit code: 0 all checked peers PASS (or SKIPPED/UNSUPPORTED), 1 a FAIL or ERROR, 2 bad input.
"""
import argparse
import csv
import gc
import itertools
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import frameworks  # noqa: E402  (peers/frameworks: one module per framework)
from frameworks.common import head_dim, kv_heads, past_len, reference, visible  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The summary.csv columns a peer row fills with its measurements (0 until measured).
MEASURED = ("median_s", "mean_s", "stddev_s", "cv", "min_s", "repetitions", "iterations", "gflops", "sgemm_gflops",
            "speedup", "workspace_bytes", "measured_bytes", "predicted_s", "max_abs_err", "rel_l2_err", "tol_rel_l2")


class MemoryProbe:
    """Peak resident memory the process gains from now on: the same method as the host's
    harness/memory_probe.h (reset the kernel's high-water mark through /proc/self/clear_refs,
    then VmHWM - VmRSS at the start), so a peer's figure compares with a backend's. A peer's
    includes the output array the framework returns (the host allocates the backends' output)."""

    def __init__(self):
        gc.collect()
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.base = self._status("VmRSS")
        except OSError:
            self.base = None

    @staticmethod
    def _status(field):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise OSError(f"/proc/self/status has no {field}")

    def peak_above_baseline(self):
        if self.base is None:
            return 0
        try:
            return max(0, self._status("VmHWM") - self.base)
        except OSError:
            return 0


def max_abs_score(p, x, w):
    """The largest |scaled score| of the reference over the keys each query sees (the S of
    harness/validate.h's tolerance): the cache's keys first, query head h against K/V head
    h / (heads / kv_heads), masked keys (causal, window) left out."""
    x = x.astype(np.float64)
    hd, G, P = head_dim(p), kv_heads(p), past_len(p)
    if p["qkv_proj"]:
        q = x @ w["w_q"] + (w["b_q"] if p["qkv_bias"] else 0.0)
        k = x @ w["w_k"] + (w["b_k"] if p["qkv_bias"] else 0.0)
        scale = 1.0 / math.sqrt(hd)
    else:
        q = k = x
        scale = 1.0
    seen = visible(p)
    m = 0.0
    for b in range(p["batch"]):
        for h in range(p["heads"]):
            g = h // (p["heads"] // G)
            keys = k[b, :, g * hd:(g + 1) * hd]
            if P > 0:
                keys = np.concatenate([w["k_cache"][b, g], keys])
            s = np.abs(q[b, :, h * hd:(h + 1) * hd] @ keys.T) * scale
            m = max(m, float(np.where(seen, s, 0.0).max()))
    return m


def load_inputs(d):
    """x and the weights a problem has, with the KV cache (k_cache, v_cache [B, kv_heads, P,
    head_dim], only with past_len > 0) among them, from d (problem.json, if there, is not needed)."""
    x = np.load(os.path.join(d, "x.npy"))
    w = {n: np.load(os.path.join(d, n + ".npy"))
         for n in ("w_q", "w_k", "w_v", "b_q", "b_k", "b_v", "w_o", "b_o", "k_cache", "v_cache")
         if os.path.exists(os.path.join(d, n + ".npy"))}
    return x, w


PEERS = dict(frameworks.PEERS)
if os.environ.get("ATTNBENCH_PEERS_TESTING") == "1":
    import testing_peers  # noqa: E402
    PEERS.update(testing_peers.PEERS)



def calibrate(fns, repetitions, min_time, budget=None):
    """(n, one): the calls per repetition so that one lasts >= min_time, and the seconds of one
    call. fns are copies of the prepared peer on copies of the data (the bench's cold-cache
    rotation), each called once here outside the timing; the first one's second call is the
    warm-up that sizes n (the validation call before was its first). With a budget (seconds for
    the whole measurement), a call so slow that the repetitions would not fit gives n = None (the
    row becomes SKIPPED)."""
    for f in fns[1:]:
        f()
    t0 = time.perf_counter()
    fns[0]()
    one = max(time.perf_counter() - t0, 1e-7)
    if budget is not None and one * repetitions > budget:
        return None, one
    return max(1, int(math.ceil(min_time / one))), one


def time_repetition(fns, n):
    """Seconds per call of one repetition: n calls cycling through fns."""
    t0 = time.perf_counter()
    for i in range(n):
        fns[i % len(fns)]()
    return (time.perf_counter() - t0) / n


def timing_fields(per_call, n):
    """The summary.csv timing fields of the per-call seconds of the repetitions taken."""
    med = statistics.median(per_call)
    mean = statistics.fmean(per_call)
    sd = statistics.stdev(per_call) if len(per_call) > 1 else 0.0
    out = {"median_s": med, "mean_s": mean, "stddev_s": sd, "cv": sd / mean if mean > 0 else 0.0,
           "min_s": min(per_call), "repetitions": len(per_call), "iterations": n}
    # Each repetition in the order taken (the bench pairs them with its backends' round by round),
    # in the form summary.csv's other numbers take; a manifest of an older bench has no such column.
    out["repetition_s"] = ";".join(repr(float(x)) for x in per_call)
    return out


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


def find_attnbench(given):
    """--attnbench, else the build's binary beside this checkout, else attnbench on $PATH."""
    for cand in (given, os.path.join(ROOT, "build", "bin", "attnbench"), shutil.which("attnbench")):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise ValueError("grid flags need the attnbench binary (--attnbench PATH; not in build/bin or on $PATH)")


def grid_points(grid_args):
    """The cartesian product of the comma lists in the grid flags: one argument list per point.
    Only the list syntax is read here; attnbench knows the keys and checks the values."""
    axes, i = [], 0
    while i < len(grid_args):
        flag = grid_args[i]
        if "=" in flag:
            flag, value = flag.split("=", 1)
            i += 1
        elif i + 1 < len(grid_args) and not grid_args[i + 1].startswith("--"):
            value = grid_args[i + 1]
            i += 2
        else:  # a switch (--causal)
            axes.append([[flag]])
            i += 1
            continue
        axes.append([[flag, v] for v in value.split(",")])
    return [[a for pair in point for a in pair] for point in itertools.product(*axes)]


def grid_manifest(attnbench, grid_args, data_seed, d):
    """(columns, configs) of the grid: `attnbench peers-manifest` per point of the grid, each in
    d/cfgN (manifest and inputs). A point attnbench refuses (e.g. heads not dividing d-out) is
    skipped with its message; a grid it refuses entirely is bad input."""
    columns, configs, refused = None, [], []
    for idx, point in enumerate(grid_points(grid_args)):
        sub = os.path.join(d, f"cfg{idx}")
        cmd = [attnbench, "peers-manifest", "--data-seed", str(data_seed), "--out", sub] + point
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode == 2:
            refused.append(f"{' '.join(point)}: {(r.stdout + r.stderr).strip()}")
            print(f"run_peers: {refused[-1]}: skipped", file=sys.stderr)
            continue
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stdout}{r.stderr}")
        columns, more = read_manifest(os.path.join(sub, "manifest.json"))
        configs += more
    if not configs:
        raise ValueError(refused[0] if refused else "the grid has no config")
    return columns, configs


def read_manifest(path):
    """(summary.csv columns, configs) of a manifest; each config's "dir" made absolute."""
    with open(path) as f:
        m = json.load(f)
    if m.get("format") != "attnbench-peers-2":
        raise ValueError(f"{path}: not an attnbench peers manifest (format {m.get('format')!r})")
    base = os.path.dirname(os.path.abspath(path))
    for c in m["configs"]:
        c["dir"] = os.path.join(base, c["dir"])
    return m["columns"], m["configs"]


class PeerTiming:
    """A peer's row on one config and, while the peer is being timed, the copies it cycles
    through (fns), its calls per repetition (n) and the seconds per call of each repetition taken."""

    def __init__(self, row, tag):
        self.row, self.tag = row, tag
        self.fns, self.n, self.per_call, self.check = None, 0, [], ""

    def settle(self, status, reason):
        """The row's verdict without a measurement; the peer leaves the rounds."""
        self.fns = None
        self.row.update(status=status, reason=reason)
        print(f"{self.tag}: {status}: {reason}", flush=True)


def error_reason(e, what=""):
    """A peer's exception as a row's reason: one line (summary.csv), at most 300 characters."""
    return f"{what}{type(e).__name__}: {e}".replace("\n", " ")[:300]


class PeerTimer:
    """Checks and times the active peers config by config, in three steps so that the caller can
    take the repetitions of a config's peers in rounds beside its own (run_paced):
      prepare(c)  per peer: supports, the check against the reference (FAIL and ERROR are rows,
                  not timed), the rotation copies, the warm-up, n and the budget (SKIPPED); returns
                  the config's state, a PeerTiming per peer in the peers' order;
      rep(state)  one repetition of every peer still being timed (a call that raises: ERROR);
      finish(state) the statistics of the repetitions taken, the rows appended to rows.
    run(c) is the three in a row with --repetitions reps: the sequential and the paced timing are
    the same code, so their numbers mean the same."""

    def __init__(self, args, columns, active, configs):
        self.args, self.columns, self.active = args, columns, active
        self.rows = []
        self.total = sum(len(self.peers_of(c)) for c in configs)
        self.done = 0

    def peers_of(self, c):
        """The active peers config c asks for: its "peers" null = every peer; a list = the ones
        the bench's --benchmark_filter left in."""
        return [n for n in self.active if c["peers"] is None or n in c["peers"]]

    def prepare(self, c):
        args, state = self.args, []
        names = self.peers_of(c)
        if not names:
            return state
        p, threads, rotation = c["problem"], int(c["threads"]), int(c["rotation"])
        x, w = load_inputs(c["dir"])
        # The KV cache stays float32 (numpy promotes each product with float64 Q): a float64
        # copy of decode's largest cache (4.3 GB) would double the runner's memory.
        w64 = {k: v if k.endswith("_cache") else v.astype(np.float64) for k, v in w.items()}
        ref = None
        for n in names:
            peer = PEERS[n]
            backend = "peer-" + n
            self.done += 1
            row = {col: "" for col in self.columns}
            row.update(c["columns"])  # the problem, as attnbench writes it
            row.update(section=c["section"], backend=backend, name=c["name"].replace("{backend}", backend),
                       flops=c["flops"], rotation=rotation)
            row.update({col: 0 for col in MEASURED})
            t = PeerTiming(row, f"[{self.done}/{self.total}] {row['name']}")
            state.append(t)
            why = peer.supports(p)
            if why:
                t.settle("UNSUPPORTED", why)
                continue
            if ref is None:
                ref = reference.attention(p, x, w64)
                tol = c["tol_rel_l2_base"] * (1.0 + max_abs_score(p, x, w64))
            try:
                probe = MemoryProbe()
                run = peer.prepare(p, x, w, threads)
                out = run()
                row["measured_bytes"] = probe.peak_above_baseline()
                got = np.asarray(out, dtype=np.float64)
            except Exception as e:  # noqa: BLE001 - a peer's error is a row, not a crash
                t.settle("ERROR", error_reason(e))
                continue
            if got.shape != ref.shape:
                rel, mx = float("inf"), float("inf")
            else:
                rel = float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-300))
                mx = float(np.abs(got - ref).max())
            row.update(max_abs_err=mx, rel_l2_err=rel, tol_rel_l2=tol)
            if not rel <= tol:
                t.settle("FAIL", f"relative L2 error {rel:.3g} above tolerance {tol:.3g}")
                continue
            try:  # the other copies: separate data, separately prepared (no shared buffers)
                if getattr(peer, "rotate_inputs_only", False):  # one prepared peer, copies of x
                    # run bound now: the calls come after this loop has moved on to the next peer.
                    fns = [run] + [(lambda r, xc: lambda: r(xc))(run, np.ascontiguousarray(x.copy(), dtype=np.float32))
                                   for _ in range(rotation - 1)]
                else:
                    fns = [run] + [peer.prepare(p, x.copy(), {k: v.copy() for k, v in w.items()}, threads)
                                   for _ in range(rotation - 1)]
            except Exception as e:  # noqa: BLE001
                t.settle("ERROR", error_reason(e, "preparing copy: "))
                continue
            try:
                calls, one = calibrate(fns, args.repetitions, args.min_time, args.budget)
            except Exception as e:  # noqa: BLE001
                t.settle("ERROR", error_reason(e, "warm-up: "))
                continue
            if calls is None:
                row["predicted_s"] = one
                t.settle("SKIPPED", f"one call took {one:.3g} s: {args.repetitions} repetitions exceed the "
                                    f"{args.budget:g} s budget")
                continue
            t.fns, t.n, t.check = fns, calls, f"rel_l2 {rel:.3g} (tol {tol:.3g})"
        return state

    @staticmethod
    def rep(state):
        for t in state:
            if t.fns is None:
                continue
            try:
                t.per_call.append(time_repetition(t.fns, t.n))
            except Exception as e:  # noqa: BLE001 - a peer's error is a row, not a crash
                t.settle("ERROR", error_reason(e, "timing: "))

    def finish(self, state):
        """Appends the config's rows; True when a peer FAILed or ERRORed."""
        for t in state:
            if t.fns is None:
                pass
            elif not t.per_call:
                t.settle("ERROR", "not timed: finished before any repetition")
            else:
                t.fns = None  # the prepared copies go now, not with the state
                row, fields = t.row, timing_fields(t.per_call, t.n)
                row.update(fields, status="PASS", gflops=row["flops"] / fields["median_s"] / 1e9)
                print(f"{t.tag}: PASS {row['median_s'] * 1e3:.4g} ms (cv {100 * row['cv']:.1f}%), "
                      f"{row['gflops']:.3g} GFLOP/s, {t.check}", flush=True)
        return self._append(state)

    def abandon(self, state):
        """A config whose rounds did not end: its rows as they are, the ones still being timed
        ERROR, so that nothing is silently lost. True when a row is FAIL or ERROR."""
        for t in state:
            if t.fns is not None:
                t.settle("ERROR", "not finished: the bench stopped before its rounds ended")
        return self._append(state)

    def _append(self, state):
        self.rows += [t.row for t in state]
        return any(t.row["status"] in ("FAIL", "ERROR") for t in state)

    def run(self, c):
        state = self.prepare(c)
        for _ in range(self.args.repetitions):
            self.rep(state)
        return self.finish(state)


def run_paced(configs, timer, reply_fd):
    """--paced: the caller decides when each config's peers are checked and timed (attnbench
    bench: beside that config's backends, so that a peer and the backends it is compared with are
    timed in the same stretch of a machine whose load drifts). Says `ready` on reply_fd once the
    frameworks are imported, then reads lines from stdin, K a config's 0-based index in the
    manifest, and answers each on reply_fd once it is done:
      run K      checks and times config K's peers (--repetitions repetitions) -> `done K`
      prepare K  checks them and prepares their timing (copies, warm-up, n) -> `prepared K`
      rep K      one repetition of each of them still being timed -> `rep K`
      finish K   their statistics over the repetitions taken, rows in -> `done K`
    `run K` is `prepare K`, --repetitions times `rep K`, `finish K`. `end` or the end of stdin
    ends the loop; a config prepared and not finished then has its rows written as they are, the
    ones still being timed ERROR. A config is started (`run` or `prepare`) once. A malformed line,
    a K out of range, a second start, or `rep K` / `finish K` of a config not prepared is a
    ValueError. Returns True when a peer FAILed or ERRORed."""
    failed = False
    started, rounds = set(), {}  # rounds: K -> its state between `prepare K` and `finish K`
    try:
        with os.fdopen(reply_fd, "w", closefd=True) as reply:
            reply.write("ready\n")  # the frameworks are imported: from now on this process idles until told
            reply.flush()
            for line in sys.stdin:
                words = line.split()
                if words == ["end"]:
                    break
                if (len(words) != 2 or words[0] not in ("run", "prepare", "rep", "finish") or not words[1].isdigit()
                        or int(words[1]) >= len(configs)):
                    raise ValueError(f"expected `run K`, `prepare K`, `rep K` or `finish K` (K < {len(configs)}) "
                                     f"or `end`, got {line.strip()!r}")
                command, k = words[0], int(words[1])
                if command in ("run", "prepare"):
                    if k in started:
                        raise ValueError(f"`{command} {k}`: config {k} was started already")
                    started.add(k)
                elif k not in rounds:
                    raise ValueError(f"`{command} {k}` without `prepare {k}` before it (or after `finish {k}`)")
                if command == "run":
                    failed |= timer.run(configs[k])
                    answer = f"done {k}"
                elif command == "prepare":
                    rounds[k] = timer.prepare(configs[k])
                    answer = f"prepared {k}"
                elif command == "rep":
                    timer.rep(rounds[k])
                    answer = f"rep {k}"
                else:
                    failed |= timer.finish(rounds.pop(k))
                    answer = f"done {k}"
                reply.write(answer + "\n")
                reply.flush()
    finally:  # also after a bad line: the rows of the configs in rounds are written, not lost
        for k in sorted(rounds):
            failed |= timer.abandon(rounds.pop(k))
    return failed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False, usage="%(prog)s [options] [grid flags of `attnbench run`]")
    ap.add_argument("--attnbench", help="the attnbench binary that writes the grid's manifest and inputs (default: "
                    "build/bin/attnbench of this checkout, else attnbench on $PATH)")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma list of %s (default: all)" % ",".join(PEERS))
    ap.add_argument("--require", action="store_true", help="a requested peer that is not installed is an error")
    ap.add_argument("--probe", action="store_true",
                    help="print {peer: info or null} as JSON for the requested peers and exit")
    ap.add_argument("--manifest", help="configs and inputs written by `attnbench bench --peers` (instead of the grid)")
    ap.add_argument("--data-seed", type=int, default=1, help="seed of the grid's inputs (default 1)")
    ap.add_argument("--repetitions", type=int, default=10)
    ap.add_argument("--min-time", type=float, default=0.05, help="seconds per repetition (default 0.05)")
    ap.add_argument("--budget", type=float, help="seconds per cell: a peer whose repetitions would take longer is "
                    "SKIPPED (default: no limit)")
    ap.add_argument("--out", help="directory for summary.csv and peers.json (default: print only)")
    ap.add_argument("--keep-inputs", action="store_true", help="keep the grid's manifest and inputs under OUT")
    ap.add_argument("--paced", type=int, metavar="FD",
                    help="with --manifest: check and time a config when stdin says `run K` (K: its index in the "
                         "manifest), or in rounds: `prepare K`, `rep K` per repetition, `finish K`; each is answered "
                         "on file descriptor FD (`done K`, `prepared K`, `rep K`, `done K`); `end` or the end of "
                         "stdin writes OUT and exits (attnbench bench times each config's peers beside its backends "
                         "this way)")
    args, grid_args = ap.parse_known_args()

    work = tempfile.mkdtemp(prefix="attnbench-peers-")
    try:
        return check_and_time(args, grid_args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_and_time(args, grid_args, work):
    try:
        peers = [n for n in args.peers.split(",") if n]
        for n in peers:
            if n not in PEERS:
                raise ValueError(f"unknown peer '{n}' (known: {', '.join(PEERS)})")
        if args.repetitions < 1 or not args.min_time > 0 or (args.budget is not None and not args.budget > 0):
            raise ValueError("--repetitions must be >= 1, --min-time and --budget > 0")
        if args.manifest and grid_args:
            raise ValueError(f"grid flags ({' '.join(grid_args)}) do not go with --manifest")
        if args.paced is not None and not args.manifest:
            raise ValueError("--paced needs --manifest (the configs it is told to run by index)")
        if args.probe:
            print(json.dumps({n: peer_info(n) for n in peers}))
            return 0
        if args.manifest:
            columns, configs = read_manifest(args.manifest)
        else:
            d = os.path.join(args.out, "inputs") if args.out and args.keep_inputs else work
            columns, configs = grid_manifest(find_attnbench(args.attnbench), grid_args, args.data_seed, d)
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
    timer = PeerTimer(args, columns, active, configs)
    failed, bad_input = False, False
    if args.paced is not None:
        try:
            failed = run_paced(configs, timer, args.paced)
        except (OSError, ValueError) as e:  # a bad FD or command: the rows so far are still written
            print(f"run_peers: --paced {args.paced}: {e}", file=sys.stderr)
            bad_input = True
    else:
        for c in configs:
            failed |= timer.run(c)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "summary.csv"), "w", newline="") as f:
            wr = csv.writer(f, lineterminator="\n")
            wr.writerow(columns)
            for r in timer.rows:
                wr.writerow([csv_num(r[col]) if isinstance(r[col], (int, float)) else r[col] for col in columns])
        with open(os.path.join(args.out, "peers.json"), "w") as f:
            json.dump({"peers": infos, "python": sys.version.split()[0], "executable": sys.executable,
                       "numpy": np.__version__, "machine": platform.machine(),
                       "repetitions": args.repetitions, "min_time_s": args.min_time, "budget_s": args.budget,
                       "timing": "time.perf_counter around n calls per repetition, after a warm-up call; the "
                                 "repetitions of a config's peers taken in rounds (one of each peer per round); "
                                 "with a rotation > 1 (from attnbench bench's cold-cache policy) the calls cycle "
                                 "through that many separately prepared copies of the peer and its data",
                       "inputs": ("attnbench bench (manifest " + args.manifest + ")") if args.manifest else
                                 "attnbench peers-manifest " + " ".join(grid_args),
                       "argv": sys.argv[1:]}, f, indent=2)
        print(f"wrote {os.path.join(args.out, 'summary.csv')}")
    return 2 if bad_input else 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
