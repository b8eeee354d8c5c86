"""What the peer modules share: scripts/reference.py (numpy float64 reference, dropout mask) and
the positions of ABI version 2's forms (include/attnbench/backend_abi.h, "Positions")."""
import importlib.util
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("attnbench_reference", os.path.join(ROOT, "scripts", "reference.py"))
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)

# The reason a peer gives for a problem form it does not build (an UNSUPPORTED row).
V2_UNSUPPORTED = "not implemented for kv_heads/window/past_len in this peer"


def head_dim(p):
    return p["d_out"] // p["heads"]


def kv_heads(p):
    """K/V heads; a manifest from before issue 14 has none: one per query head."""
    return int(p.get("kv_heads") or p["heads"])


def past_len(p):
    return int(p.get("past_len") or 0)


def window(p):
    return int(p.get("window") or 0)


def uses_v2(p):
    """Whether p is grouped-query, windowed or decoding (problem.hpp UsesAbiV2Fields)."""
    return kv_heads(p) != p["heads"] or window(p) != 0 or past_len(p) != 0


def visible(p):
    """[T, P + T] bool: query t (absolute position i = P + t) sees key j (problem.hpp KeyBegin /
    KeyEnd): always without the causal mask, else j <= i and, with a window W, j > i - W."""
    T, P, W = p["seq_len"], past_len(p), window(p)
    i = P + np.arange(T)[:, None]
    j = np.arange(P + T)[None, :]
    if not p["causal"]:
        return np.ones((T, P + T), dtype=bool)
    return (j <= i) & ((j > i - W) if W > 0 else True)


def dropout_mask(p):
    """[B, H, T, P + T] float32: 1/(1-p) where kept, 0 where dropped (include/attnbench/dropout.h),
    keyed by absolute positions: query t is row P + t, keys are the cache's P then the T new."""
    B, H, T, prob = p["batch"], p["heads"], p["seq_len"], p["dropout_p"]
    P = past_len(p)
    m = np.empty((B, H, T, P + T), dtype=np.float32)
    keep_scale = np.float32(1.0 / (1.0 - float(np.float32(prob))))
    for b in range(B):
        for h in range(H):
            for i in range(T):
                m[b, h, i] = np.where(reference.dropout_keep(p["dropout_seed"], b, h, P + i, P + T, prob), keep_scale,
                                      0.0)
    return m
