"""PyTorch peers:
  torch      torch.nn.functional.scaled_dot_product_attention between torch matmuls;
  torch-mha  torch.nn.MultiheadAttention(batch_first=True) with attnbench's weights, eval mode.
Both run float32 on the CPU with exactly --threads intra-op threads and 1 inter-op thread.

torch also runs issue 14's forms: grouped-query heads with SDPA's enable_gqa (K/V keep their
kv_heads heads, torch >= 2.5), the KV cache concatenated before the new keys and values every call
(as an engine appends to its cache), and the causal mask offset by past_len or a sliding window
as an explicit boolean attn_mask (common.visible); plain causal keeps is_causal=True."""
import math

import numpy as np

from .common import V2_UNSUPPORTED, kv_heads, past_len, uses_v2, visible, window

_torch = None


def _import():
    """torch, imported once per process (about 1.5 s); the inter-op pool is set to 1 thread before
    torch runs anything (it cannot be changed after its first parallel work)."""
    global _torch
    if _torch is None:
        import torch
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already started by someone else in this process: report it in info()
            pass
        _torch = torch
    return _torch


def _available():
    try:
        return _import().__version__
    except ImportError:
        return None


def _set_threads(threads):
    torch = _import()
    torch.set_num_threads(threads)
    if torch.get_num_threads() != threads:
        raise RuntimeError(f"torch.set_num_threads({threads}) left {torch.get_num_threads()} threads")


def _info(what):
    torch = _import()
    par = torch.__config__.parallel_info()
    backend = next((ln.split(":", 1)[1].strip() for ln in par.splitlines() if "parallel backend" in ln), "?")
    libs = [ln.strip() for ln in par.splitlines() if "Math Kernel Library" in ln or "MKL-DNN" in ln or "oneDNN" in ln]
    return {"version": torch.__version__, "runs": what,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkl": torch.backends.mkl.is_available(), "mkldnn": torch.backends.mkldnn.is_available(),
            "libraries": libs, "parallel_backend": backend,
            "threads": "torch.set_num_threads(--threads), torch.set_num_interop_threads(1)",
            "interop_threads": torch.get_num_interop_threads(),
            "cuda_build": torch.version.cuda or "none"}


def _has_enable_gqa():
    major, minor = (int(n) for n in _import().__version__.split("+")[0].split(".")[:2])
    return (major, minor) >= (2, 5)


def _dropout_reason(p):
    if p["dropout_p"] > 0:
        return "torch's dropout uses its own RNG, not attnbench's counter-based mask: dropout-0 only"
    return ""


class TorchPeer:
    name = "torch"

    @staticmethod
    def available():
        return _available()

    @staticmethod
    def info():
        return _info("torch.nn.functional.scaled_dot_product_attention(is_causal, scale) between torch matmuls")

    @staticmethod
    def supports(p):
        if kv_heads(p) != p["heads"] and not _has_enable_gqa():
            return "scaled_dot_product_attention(enable_gqa=True) needs torch >= 2.5"
        return _dropout_reason(p)

    @staticmethod
    def prepare(p, x, w, threads):
        torch = _import()
        F = torch.nn.functional
        _set_threads(threads)
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

        G, P = kv_heads(p), past_len(p)
        heads = lambda a, n: a.view(B, T, n, hd).transpose(1, 2)
        k_cache, v_cache = (torch.from_numpy(np.ascontiguousarray(w[n], dtype=np.float32)) if P else None
                            for n in ("k_cache", "v_cache"))  # [B, G, P, hd]
        # Plain causal: SDPA's is_causal. With a cache (the mask offset by P) or a window: the
        # boolean mask of the keys each query sees, [T, P + T], True = attend.
        explicit = bool(p["causal"]) and (P > 0 or window(p) > 0)
        mask = torch.from_numpy(visible(p)) if explicit else None
        kw = {"enable_gqa": True} if G != H else {}

        @torch.inference_mode()
        def run():
            if p["qkv_proj"]:
                q, k, v = lin(xt, wq, bq), lin(xt, wk, bk), lin(xt, wv, bv)
            else:
                q = k = v = xt
            kh, vh = heads(k, G), heads(v, G)
            if P:
                kh, vh = torch.cat((k_cache, kh), dim=2), torch.cat((v_cache, vh), dim=2)
            c = F.scaled_dot_product_attention(heads(q, H), kh, vh, attn_mask=mask,
                                               is_causal=bool(p["causal"]) and not explicit, scale=scale, **kw)
            c = c.transpose(1, 2).reshape(B, T, dout)
            if p["out_proj"]:
                c = lin(c, wo, bo)
            return c.numpy()
        return run


class TorchMhaPeer:
    """nn.MultiheadAttention(d_out, H, bias=True, batch_first=True): in_proj_weight = [w_q; w_k; w_v]
    transposed, in_proj_bias = [b_q; b_k; b_v] (zeros without --qkv-bias: the module has one bias
    flag for both projections, so those configs pay a bias add), out_proj = (w_o^T, b_o). Causal:
    a float -inf upper-triangle attn_mask with the is_causal hint; the float mask keeps the module
    off its native fast path (torch._native_multi_head_attention, which would apply the mask
    densely), and the hint makes F.multi_head_attention_forward call
    scaled_dot_product_attention(is_causal=True)."""
    name = "torch-mha"

    @staticmethod
    def available():
        return _available()

    @staticmethod
    def info():
        return _info("torch.nn.MultiheadAttention(batch_first=True), eval + inference_mode, need_weights=False, "
                     "causal: float attn_mask + is_causal=True")

    @staticmethod
    def supports(p):
        if not p["qkv_proj"] or not p["out_proj"]:
            return ("nn.MultiheadAttention always has Q/K/V and output projections: only the mha variant "
                    "(with W_o) maps onto it")
        if p["d_in"] != p["d_out"]:
            return "nn.MultiheadAttention's query has embed_dim = d_out features: d_in must equal d_out"
        if uses_v2(p):
            return "nn.MultiheadAttention has one K/V head per query head and no KV cache: " + V2_UNSUPPORTED
        return _dropout_reason(p)

    @staticmethod
    def prepare(p, x, w, threads):
        torch = _import()
        _set_threads(threads)
        T, E, H = p["seq_len"], p["d_out"], p["heads"]
        f = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        m = torch.nn.MultiheadAttention(E, H, bias=True, batch_first=True)
        with torch.no_grad():
            m.in_proj_weight.copy_(f(np.concatenate([w["w_q"].T, w["w_k"].T, w["w_v"].T], axis=0)))
            if p["qkv_bias"]:
                m.in_proj_bias.copy_(f(np.concatenate([w["b_q"], w["b_k"], w["b_v"]])))
            else:
                m.in_proj_bias.zero_()
            m.out_proj.weight.copy_(f(w["w_o"].T))
            m.out_proj.bias.copy_(f(w["b_o"]))
        m.eval()
        m.requires_grad_(False)
        xt = f(x)
        causal = bool(p["causal"])
        mask = torch.nn.Transformer.generate_square_subsequent_mask(T) if causal else None

        @torch.inference_mode()
        def run():
            return m(xt, xt, xt, need_weights=False, attn_mask=mask, is_causal=causal)[0].numpy()
        return run
