"""Peers for the tests only (registered when ATTNBENCH_PEERS_TESTING=1): they need nothing but
numpy, so the bench's peer path (manifest, check, timing, merge) is tested without a framework.
    numpy-f32        attention in numpy float32: a correct peer
    numpy-noscale    the same without the 1/sqrt(head_dim) score scale: must be FAIL, not timed
    numpy-f32-x      numpy-f32 prepared once, its copies for the cache rotation being copies of x
                     (rotate_inputs_only, as the ONNX Runtime peers)
"""
import math

import numpy as np

from frameworks.common import dropout_mask, head_dim, kv_heads, past_len, visible


def _attention(p, x, w, scaled):
    """Attention in float32 numpy, every form of the ABI (grouped heads, window, KV cache)."""
    B, T, H, dout = p["batch"], p["seq_len"], p["heads"], p["d_out"]
    hd, G, P = head_dim(p), kv_heads(p), past_len(p)
    if p["qkv_proj"]:
        proj = lambda n: x @ w["w_" + n] + (w["b_" + n] if p["qkv_bias"] else np.float32(0))
        q, k, v = proj("q"), proj("k"), proj("v")
    else:
        q = k = v = x
    scale = np.float32(1.0 / math.sqrt(hd) if p["qkv_proj"] and scaled else 1.0)
    mask = dropout_mask(p) if p["dropout_p"] > 0 else None
    seen = visible(p)
    ctx = np.empty((B, T, dout), dtype=np.float32)
    for b in range(B):
        for h in range(H):
            g = h // (H // G)  # consecutive query heads share a K/V head
            c, kc = slice(h * hd, (h + 1) * hd), slice(g * hd, (g + 1) * hd)
            keys, values = k[b, :, kc], v[b, :, kc]
            if P > 0:
                keys = np.concatenate([w["k_cache"][b, g], keys])
                values = np.concatenate([w["v_cache"][b, g], values])
            s = (q[b, :, c] @ keys.T) * scale
            s[~seen] = -np.inf
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
            if mask is not None:
                s *= mask[b, h]
            ctx[b, :, c] = s @ values
    return ctx @ w["w_o"] + w["b_o"] if p["out_proj"] else ctx


class _NumpyPeer:
    scaled = True

    @staticmethod
    def available():
        return np.__version__

    @staticmethod
    def info():
        return {"version": np.__version__, "note": "test peer (ATTNBENCH_PEERS_TESTING=1)"}

    @staticmethod
    def supports(p):
        return ""

    @classmethod
    def prepare(cls, p, x, w, threads):
        x32 = np.asarray(x, dtype=np.float32)
        w32 = {n: np.asarray(a, dtype=np.float32) for n, a in w.items()}
        return lambda: _attention(p, x32, w32, cls.scaled)


class NumpyF32Peer(_NumpyPeer):
    name = "numpy-f32"


class NumpyNoScalePeer(_NumpyPeer):
    name = "numpy-noscale"
    scaled = False


class NumpyF32InputsOnlyPeer(_NumpyPeer):
    name = "numpy-f32-x"
    rotate_inputs_only = True

    @classmethod
    def prepare(cls, p, x, w, threads):
        w32 = {n: np.asarray(a, dtype=np.float32) for n, a in w.items()}
        return lambda xin=np.asarray(x, dtype=np.float32): _attention(p, xin, w32, cls.scaled)


PEERS = {c.name: c for c in (NumpyF32Peer, NumpyNoScalePeer, NumpyF32InputsOnlyPeer)}
