#!/usr/bin/python3
"""Recompute an `attnbench run --dump DIR` result with numpy (float64) and compare it to out.npy.

    scripts/reference.py DIR [--tol 1e-4]

Reads problem.json, x.npy, w_*.npy / b_*.npy, k_cache.npy / v_cache.npy (with a past_len) and
out.npy from DIR; exits 0 when out.npy matches
(relative L2 error below --tol), 1 otherwise. The dropout mask is the counter-based function of
include/attnbench/dropout.h, written here again in numpy so that anyone can check a dump without
attnbench.
"""
import argparse
import json
import os
import sys

import numpy as np

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def mix64(z):
    """SplitMix64 finaliser of z + golden ratio, on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = (z + np.uint64(0x9E3779B97F4A7C15)) & M64
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & M64
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & M64
        return z ^ (z >> np.uint64(31))


def dropout_keep(seed, b, h, i, N, p):
    """Boolean keep-mask over keys j = 0..N-1 for query i (absolute position) of head h in batch b."""
    u = np.uint64
    row_key = mix64(mix64(mix64(u(seed) ^ u(b)) ^ u(h)) ^ u(i))
    j = np.arange(N, dtype=np.uint64)
    threshold = u(int(float(np.float32(p)) * 4294967296.0))
    return (mix64(row_key ^ j) >> u(32)) >= threshold


def visible(prob, T, P):
    """[T, P + T] boolean: new token t (absolute position i = P + t) sees key j (the cache's P rows
    first) when not causal, or j <= i and, with a window W > 0, j > i - W (backend_abi.h)."""
    i = P + np.arange(T)[:, None]
    j = np.arange(P + T)[None, :]
    if not prob["causal"]:
        return np.ones((T, P + T), dtype=bool)
    seen = j <= i
    W = prob.get("window", 0)
    if W > 0:
        seen &= j > i - W
    return seen


def attention(prob, x, w):
    """The output [B, T, d_out] in float64 (peers/run_peers.py imports this)."""
    return attention_with_weights(prob, x, w)[0]


def attention_with_weights(prob, x, w):
    """(output [B, T, d_out], attention weights [B, H, T, P + T] after the softmax and dropout).

    prob: problem.json's fields; kv_heads, window and past_len may be absent (an older dump:
    multi-head attention, no window, no cache). w: w_q ... b_o, and k_cache / v_cache
    [B, kv_heads, P, head_dim] when past_len > 0."""
    B, T, H = prob["batch"], prob["seq_len"], prob["heads"]
    KVH, P = prob.get("kv_heads", H), prob.get("past_len", 0)
    dout = prob["d_out"]
    hd = dout // H
    x = x.astype(np.float64)
    if prob["qkv_proj"]:
        proj = lambda n: x @ w["w_" + n] + (w["b_" + n] if prob["qkv_bias"] else 0.0)
        q, k, v = proj("q"), proj("k"), proj("v")  # k, v: [B, T, kv_heads * head_dim]
        scale = 1.0 / np.sqrt(hd)
    else:
        q = k = v = x
        scale = 1.0
    N = P + T
    seen = visible(prob, T, P)
    ctx = np.zeros((B, T, dout))
    weights = np.zeros((B, H, T, N))  # after the softmax and dropout; masked entries 0
    p = prob["dropout_p"]
    for b in range(B):
        for h in range(H):
            g = h // (H // KVH)  # the KV head query head h reads (repeat_interleave)
            cols, kv_cols = slice(h * hd, (h + 1) * hd), slice(g * hd, (g + 1) * hd)
            keys, values = k[b, :, kv_cols], v[b, :, kv_cols]
            if P > 0:
                keys = np.concatenate([w["k_cache"][b, g], keys])
                values = np.concatenate([w["v_cache"][b, g], values])
            s = (q[b, :, cols] @ keys.T) * scale
            s[~seen] = -np.inf
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
            if p > 0:
                for t in range(T):
                    keep = dropout_keep(prob["dropout_seed"], b, h, P + t, N, p)
                    s[t] = np.where(keep, s[t] / (1.0 - float(np.float32(p))), 0.0)
            weights[b, h] = s
            ctx[b, :, cols] = s @ values
    if prob["out_proj"]:
        return ctx @ w["w_o"] + w["b_o"], weights
    return ctx, weights


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="a directory written by `attnbench run --dump`")
    ap.add_argument("--tol", type=float, default=1e-4, help="largest relative L2 error accepted (default 1e-4)")
    ap.add_argument("--write", action="store_true",
                    help="also write numpy_out.npy and numpy_attn_weights.npy [B,H,T,P+T] (float64) into DIR")
    args = ap.parse_args()
    with open(os.path.join(args.dir, "problem.json")) as f:
        prob = json.load(f)
    load = lambda n: np.load(os.path.join(args.dir, n + ".npy"))
    w = {n: load(n).astype(np.float64)
         for n in ("w_q", "w_k", "w_v", "b_q", "b_k", "b_v", "w_o", "b_o", "k_cache", "v_cache")
         if os.path.exists(os.path.join(args.dir, n + ".npy"))}
    want, weights = attention_with_weights(prob, load("x"), w)
    if args.write:
        np.save(os.path.join(args.dir, "numpy_out.npy"), want)
        np.save(os.path.join(args.dir, "numpy_attn_weights.npy"), weights)
    got = load("out").astype(np.float64)
    if got.shape != want.shape:
        print(f"out.npy has shape {got.shape}, expected {want.shape}")
        return 1
    rel = np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-300)
    ok = rel <= args.tol
    print(f"{'OK' if ok else 'MISMATCH'}: out.npy vs numpy float64, relative L2 error {rel:.3g}, "
          f"max abs error {np.abs(got - want).max():.3g} (tolerance {args.tol:g})")
    # run --dump also writes the harness's float64 reference (as float32) and attention weights.
    for name, mine in (("ref_out", want), ("attn_weights", weights)):
        path = os.path.join(args.dir, name + ".npy")
        if os.path.exists(path):
            theirs = np.load(path).astype(np.float64)
            diff = np.abs(theirs - mine).max() if theirs.shape == mine.shape else float("inf")
            print(f"  {name}.npy (attnbench's reference) vs numpy: max abs difference {diff:.3g}")
            ok = ok and diff <= 1e-5 * max(1.0, np.abs(mine).max())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
