"""What the peer modules share: scripts/reference.py (numpy float64 reference, dropout mask)."""
import importlib.util
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("attnbench_reference", os.path.join(ROOT, "scripts", "reference.py"))
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)


def head_dim(p):
    return p["d_out"] // p["heads"]


def dropout_mask(p):
    """[B, H, T, T] float32: 1/(1-p) where kept, 0 where dropped (include/attnbench/dropout.h)."""
    B, H, T, prob = p["batch"], p["heads"], p["seq_len"], p["dropout_p"]
    m = np.empty((B, H, T, T), dtype=np.float32)
    keep_scale = np.float32(1.0 / (1.0 - float(np.float32(prob))))
    for b in range(B):
        for h in range(H):
            for i in range(T):
                m[b, h, i] = np.where(reference.dropout_keep(p["dropout_seed"], b, h, i, T, prob), keep_scale, 0.0)
    return m
