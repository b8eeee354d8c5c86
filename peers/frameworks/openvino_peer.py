"""OpenVINO peer: a graph built with the OpenVINO Python API around its fused
ScaledDotProductAttention op, compiled for the CPU plugin in float32.

Issue 14's forms: the KV cache as graph inputs k_cache / v_cache fed every call and concatenated
before the new K/V; grouped-query heads by broadcasting each K/V head to its H / kv_heads query
heads in the graph (SDPA wants one K/V head per query head); the causal mask offset by past_len,
or a window, as SDPA's additive attention_mask (common.visible)."""
import math

import numpy as np

from .common import dropout_mask, kv_heads, past_len, visible, window

# Compile settings of every config (threads come from --threads). INFERENCE_PRECISION_HINT=f32 is
# essential: on a CPU with avx512_bf16 / AMX the CPU plugin defaults to bf16, which fails the
# float32 tolerance. ENABLE_CPU_PINNING=NO: the LATENCY hint would pin the threads to cores, which
# no other peer nor attnbench's own backends do. prepare() reads the settings back from the
# compiled model and refuses to run when they were not applied.
_CONFIG = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1",
           "ENABLE_CPU_PINNING": "NO"}


def _opset():
    """The newest opset module of the installed OpenVINO that has scaled_dot_product_attention."""
    import importlib
    for n in range(20, 12, -1):
        try:
            m = importlib.import_module(f"openvino.opset{n}")
        except ImportError:
            continue
        if hasattr(m, "scaled_dot_product_attention"):
            return m, n
    raise ImportError("no openvino opset with scaled_dot_product_attention (OpenVINO >= 2023.3 needed)")


def _config(threads):
    return dict(_CONFIG, INFERENCE_NUM_THREADS=str(threads))


def _build(p, w):
    """The ov.Model of problem p (weights as constants), and a description of its attention core."""
    import openvino as ov
    o, _ = _opset()
    B, T, din, dout, H = p["batch"], p["seq_len"], p["d_in"], p["d_out"], p["heads"]
    hd = dout // H
    i64 = lambda v: o.constant(np.array(v, dtype=np.int64))
    f32 = lambda a: o.constant(np.asarray(a, dtype=np.float32, order="C"))  # (keeps 0-d scalars 0-d)
    x = o.parameter([B, T, din], np.float32, name="x")

    def proj(src, wn, bn):
        y = o.matmul(src, f32(w[wn]), False, False)
        return o.add(y, f32(w[bn])) if bn else y

    if p["qkv_proj"]:
        q, k, v = (proj(x, "w_" + n, "b_" + n if p["qkv_bias"] else None) for n in "qkv")
    else:
        q = k = v = x
    G, P = kv_heads(p), past_len(p)
    heads = lambda a, n: o.transpose(o.reshape(a, i64([B, T, n, hd]), False), i64([0, 2, 1, 3]))  # [B,n,T,hd]
    qh, kh, vh = heads(q, H), heads(k, G), heads(v, G)
    params = [x]
    if P > 0:  # the cache [B,G,P,hd] before the new keys and values: [B,G,P+T,hd]
        caches = [o.parameter([B, G, P, hd], np.float32, name=n) for n in ("k_cache", "v_cache")]
        params += caches
        kh, vh = (o.concat([c_, a], 2) for c_, a in zip(caches, (kh, vh)))
    if G != H:  # K/V head g serves query heads g*r .. g*r+r-1: broadcast to [B,G,r,L,hd], then [B,H,L,hd]
        r, L = H // G, P + T
        rep = lambda a: o.reshape(o.broadcast(o.unsqueeze(a, i64([2])), i64([B, G, r, L, hd])),
                                  i64([B, H, L, hd]), False)
        kh, vh = rep(kh), rep(vh)
    scale = 1.0 / math.sqrt(hd) if p["qkv_proj"] else 1.0
    # Plain causal: SDPA's causal flag. With a cache (the mask offset by P) or a window: the
    # additive mask of the keys each query sees, [T, P+T], 0 or -inf.
    explicit = bool(p["causal"]) and (P > 0 or window(p) > 0)
    mask = np.where(visible(p), np.float32(0), np.float32(-np.inf)).astype(np.float32)
    if p["dropout_p"] > 0:
        # SDPA has no dropout (only an additive mask): the explicit graph, as in the ONNX peer,
        # with attnbench's counter-based mask as a constant multiplied after the Softmax.
        s = o.multiply(o.matmul(qh, kh, False, True), f32(np.float32(scale)))
        if p["causal"]:
            s = o.add(s, f32(mask))
        a = o.multiply(o.softmax(s, -1), f32(dropout_mask(p)))
        c = o.matmul(a, vh, False, False)
        core = "MatMul/Multiply/Add/Softmax/Multiply(dropout mask)/MatMul"
    else:
        c = o.scaled_dot_product_attention(qh, kh, vh, f32(mask if explicit else np.float32(0.0)),
                                           f32(np.float32(scale)), causal=bool(p["causal"]) and not explicit)
        core = "ScaledDotProductAttention"
    c = o.reshape(o.transpose(c, i64([0, 2, 1, 3])), i64([B, T, dout]), False)
    if p["out_proj"]:
        c = proj(c, "w_o", "b_o")
    return ov.Model([c], params, "attention"), core


def _compile(model, threads):
    import openvino as ov
    core = ov.Core()
    cm = core.compile_model(model, "CPU", _config(threads))
    got = {k: cm.get_property(k) for k in ("INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS", "NUM_STREAMS",
                                           "ENABLE_CPU_PINNING")}
    if got["INFERENCE_PRECISION_HINT"] != ov.Type.f32 or int(got["INFERENCE_NUM_THREADS"]) != threads \
            or int(got["NUM_STREAMS"]) != 1 or got["ENABLE_CPU_PINNING"]:
        raise RuntimeError(f"OpenVINO did not apply the settings: {got}")
    return cm


def _kernels(cm):
    """{layer type: sorted primitive types} and the set of runtime precisions of the compiled model."""
    kinds, precs = {}, set()
    for op in cm.get_runtime_model().get_ordered_ops():
        ri = op.get_rt_info()
        lt = ri["layerType"].astype(str)
        if lt in ("Const", "Input", "Output", "Reshape"):
            continue
        kinds.setdefault(lt, set()).add(ri["primitiveType"].astype(str) if "primitiveType" in ri else "?")
        if "runtimePrecision" in ri:
            precs.add(ri["runtimePrecision"].astype(str))
    return {k: sorted(v) for k, v in sorted(kinds.items())}, sorted(precs)


class OpenVinoPeer:
    name = "openvino"

    @staticmethod
    def available():
        try:
            import openvino
            _opset()
            return openvino.__version__.split("-")[0]
        except ImportError:
            return None

    @staticmethod
    def info():
        import openvino as ov
        core = ov.Core()
        _, n = _opset()
        # A probe (mha, causal, T 256, d 256, 4 heads, 1 thread) compiled with the peer's settings:
        # what the CPU plugin makes of the graph (layer -> primitive, e.g. brgemm_avx512_f32) and
        # the precisions it really runs.
        rng = np.random.default_rng(0)
        d = 256
        w = {n_: rng.uniform(-1, 1, (d, d)).astype(np.float32) / 16 for n_ in ("w_q", "w_k", "w_v", "w_o")}
        w["b_o"] = np.zeros(d, np.float32)
        p = {"batch": 1, "seq_len": 256, "d_in": d, "d_out": d, "heads": 4, "qkv_proj": True, "qkv_bias": False,
             "out_proj": True, "causal": True, "dropout_p": 0.0, "dropout_seed": 1}
        cm = _compile(_build(p, w)[0], 1)
        kinds, precs = _kernels(cm)
        return {"version": ov.__version__.split("-")[0], "build": ov.__version__,
                "device": core.get_property("CPU", "FULL_DEVICE_NAME"),
                "optimization_capabilities": list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")),
                "graph": f"openvino.opset{n}: MatMul (+Add) projections, Reshape/Transpose to heads, "
                         "ScaledDotProductAttention(causal, scale) (dropout > 0: MatMul/Softmax/Multiply by the "
                         "mask/MatMul), output MatMul/Add",
                "settings": dict(_CONFIG, INFERENCE_NUM_THREADS="--threads"),
                "inference_precision": cm.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
                "probe_mha_T256_d256_H4_runtime_precisions": precs,
                "probe_mha_T256_d256_H4_kernels": kinds}

    @staticmethod
    def supports(p):
        return ""

    @staticmethod
    def prepare(p, x, w, threads):
        model, _ = _build(p, w)
        req = _compile(model, threads).create_infer_request()
        feeds = {0: np.ascontiguousarray(x, dtype=np.float32)}
        if past_len(p) > 0:  # fed every call, as an engine's cache is
            feeds.update({1: np.ascontiguousarray(w["k_cache"], dtype=np.float32),
                          2: np.ascontiguousarray(w["v_cache"], dtype=np.float32)})
        # share_outputs: the returned array is OpenVINO's output buffer, valid until the next call
        # (the runner converts it at once), so the timing has no extra copy of the output.
        return lambda: req.infer(feeds, share_inputs=True, share_outputs=True)[0]
