"""PyTorch peer: torch.nn.functional.scaled_dot_product_attention between torch matmuls."""
import math

import numpy as np


class TorchPeer:
    name = "torch"

    @staticmethod
    def available():
        try:
            import torch
            return torch.__version__
        except ImportError:
            return None

    @staticmethod
    def info():
        import torch
        return {"version": torch.__version__, "blas": torch.backends.mkl.is_available() and "MKL" or "not MKL",
                "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                "mkldnn": torch.backends.mkldnn.is_available(),
                "parallel": torch.__config__.parallel_info().splitlines()[:4]}

    @staticmethod
    def supports(p):
        if p["dropout_p"] > 0:
            return "torch's dropout uses its own RNG, not attnbench's counter-based mask: dropout-0 only"
        return ""

    @staticmethod
    def prepare(p, x, w, threads):
        import torch
        import torch.nn.functional as F
        torch.set_num_threads(threads)
        B, T, dout, H = p["batch"], p["seq_len"], p["d_out"], p["heads"]
        hd = dout // H
        t = lambda n: torch.from_numpy(np.ascontiguousarray(w[n], dtype=np.float32)) if n in w else None
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        wq, wk, wv, wo = t("w_q"), t("w_k"), t("w_v"), t("w_o")
        bq, bk, bv, bo = (t(n) if p["qkv_bias"] or n == "b_o" else None for n in ("b_q", "b_k", "b_v", "b_o"))
        scale = 1.0 / math.sqrt(hd) if p["qkv_proj"] else 1.0

        def lin(a, wt, b):
            y = a @ wt
            return y + b if b is not None else y

        heads = lambda a: a.view(B, T, H, hd).transpose(1, 2)

        @torch.inference_mode()
        def run():
            if p["qkv_proj"]:
                q, k, v = lin(xt, wq, bq), lin(xt, wk, bk), lin(xt, wv, bv)
            else:
                q = k = v = xt
            c = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=bool(p["causal"]), scale=scale)
            c = c.transpose(1, 2).reshape(B, T, dout)
            if p["out_proj"]:
                c = lin(c, wo, bo)
            return c.numpy()
        return run
