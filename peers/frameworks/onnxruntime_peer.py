"""ONNX Runtime peer: a generated opset-13 ONNX graph on the CPU execution provider.

Issue 14's forms with standard ops: grouped-query heads by viewing the H query heads as kv_heads
groups of H / kv_heads (Reshape, so each K/V head is read once for its group, nothing repeated);
a sliding window as the additive mask; the KV cache as graph inputs k_cache / v_cache fed every
call (as an engine's cache is) and concatenated before the new K/V, the mask offset by past_len."""
import math

import numpy as np

from .common import dropout_mask, kv_heads, past_len, visible  # noqa: F401


def session_runner(model, threads, x, output, feeds=None):
    """An ORT CPU session of the model (input "x", plus `feeds`: name -> array, the same every
    call) with the run's thread count, and run(x=x) returning `output`; run takes another x for
    the runner's cache rotation (rotate_inputs_only)."""
    import onnxruntime as ort
    model.ir_version = min(model.ir_version, 8)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    x0 = np.ascontiguousarray(x, dtype=np.float32)
    fixed = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in (feeds or {}).items()}
    return lambda xin=x0: sess.run([output], {"x": xin, **fixed})[0]


class OnnxRuntimePeer:
    name = "onnxruntime"
    # Cache rotation cycles copies of x through this one session: copies of the session would
    # each bring their own intra-op thread pool, whose spinning workers slow the others down
    # (measured: mha T=128 d=768 20.7 ms with 7 sessions, against ~3.5 ms with one).
    rotate_inputs_only = True

    @staticmethod
    def available():
        try:
            import onnx  # noqa: F401
            import onnxruntime
            return onnxruntime.__version__
        except ImportError:
            return None

    @staticmethod
    def info():
        import onnxruntime
        return {"version": onnxruntime.__version__, "build": onnxruntime.get_build_info(),
                "kernels": "CPUExecutionProvider (MLAS GEMM kernels, selected at run time by CPU features)"}

    @staticmethod
    def supports(p):
        return ""

    @staticmethod
    def prepare(p, x, w, threads):
        import onnx
        from onnx import TensorProto, helper, numpy_helper
        B, T, din, dout, H = p["batch"], p["seq_len"], p["d_in"], p["d_out"], p["heads"]
        hd = dout // H
        G, P = kv_heads(p), past_len(p)
        r, L = H // G, P + T  # query heads per K/V head; keys a query can see at most
        nodes, inits = [], []
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [B, T, din])]

        def const(name, arr):
            inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
            return name

        def node(op, ins, out, **kw):
            nodes.append(helper.make_node(op, ins, [out], **kw))
            return out

        def proj(src, wn, bn, out):
            y = node("MatMul", [src, const(wn, w[wn])], out + "_mm")
            return node("Add", [y, const(bn, w[bn])], out) if bn else y

        if p["qkv_proj"]:
            q = proj("x", "w_q", "b_q" if p["qkv_bias"] else None, "q")
            k = proj("x", "w_k", "b_k" if p["qkv_bias"] else None, "k")
            v = proj("x", "w_v", "b_v" if p["qkv_bias"] else None, "v")
        else:
            q = k = v = "x"
        shape = const("heads_shape", np.array([B, T, H, hd], dtype=np.int64))
        kv_shape = const("kv_heads_shape", np.array([B, T, G, hd], dtype=np.int64))
        qh = node("Transpose", [node("Reshape", [q, shape], "q4")], "qh", perm=[0, 2, 1, 3])   # [B,H,T,hd]
        kh = node("Transpose", [node("Reshape", [k, kv_shape], "k4")], "kh", perm=[0, 2, 1, 3])  # [B,G,T,hd]
        vh = node("Transpose", [node("Reshape", [v, kv_shape], "v4")], "vh", perm=[0, 2, 1, 3])
        if P > 0:  # the cache [B,G,P,hd] before the new keys and values: [B,G,P+T,hd]
            for name in ("k_cache", "v_cache"):
                inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [B, G, P, hd]))
            kh = node("Concat", ["k_cache", kh], "k_all", axis=2)
            vh = node("Concat", ["v_cache", vh], "v_all", axis=2)
        kt = node("Transpose", [kh], "kt", perm=[0, 1, 3, 2])  # [B,G,hd,L]
        if r > 1:  # query heads g*r .. g*r+r-1 share K/V head g: [B,G,r*T,hd] against it
            qh = node("Reshape", [qh, const("q_groups", np.array([B, G, r * T, hd], dtype=np.int64))], "q_grouped")
        s = node("MatMul", [qh, kt], "s")
        if r > 1:
            s = node("Reshape", [s, const("s_heads", np.array([B, H, T, L], dtype=np.int64))], "s_by_head")
        if p["qkv_proj"]:
            s = node("Mul", [s, const("scale", np.array(1.0 / math.sqrt(hd), dtype=np.float32))], "s_scaled")
        if p["causal"]:  # causal, with the window and past_len offset: -inf where a key is not seen
            mask = np.where(visible(p), np.float32(0), np.float32(-np.inf)).astype(np.float32)
            s = node("Add", [s, const("causal_mask", mask)], "s_masked")
        a = node("Softmax", [s], "a", axis=-1)
        if p["dropout_p"] > 0:
            a = node("Mul", [a, const("dropout_mask", dropout_mask(p))], "a_dropped")
        if r > 1:
            a = node("Reshape", [a, const("a_groups", np.array([B, G, r * T, L], dtype=np.int64))], "a_grouped")
        c = node("MatMul", [a, vh], "ctx_h")
        if r > 1:
            c = node("Reshape", [c, const("ctx_heads", np.array([B, H, T, hd], dtype=np.int64))], "ctx_heads4")
        c = node("Reshape", [node("Transpose", [c], "ctx_t", perm=[0, 2, 1, 3]),
                             const("ctx_shape", np.array([B, T, dout], dtype=np.int64))], "ctx")
        if p["out_proj"]:
            c = proj(c, "w_o", "b_o", "out")
        graph = helper.make_graph(nodes, "attention", inputs,
                                  [helper.make_tensor_value_info(c, TensorProto.FLOAT, [B, T, dout])], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        onnx.checker.check_model(model)
        feeds = {"k_cache": w["k_cache"], "v_cache": w["v_cache"]} if P > 0 else None
        return session_runner(model, threads, x, c, feeds)
