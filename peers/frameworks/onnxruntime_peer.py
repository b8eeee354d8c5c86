"""ONNX Runtime peer: a generated opset-13 ONNX graph on the CPU execution provider."""
import math

import numpy as np

from .common import dropout_mask  # noqa: F401


def session_runner(model, threads, x, output):
    """An ORT CPU session of the model (input "x") with the run's thread count, and run(x=x)
    returning `output`; run takes another x for the runner's cache rotation (rotate_inputs_only)."""
    import onnxruntime as ort
    model.ir_version = min(model.ir_version, 8)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    x0 = np.ascontiguousarray(x, dtype=np.float32)
    return lambda xin=x0: sess.run([output], {"x": xin})[0]


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
        nodes, inits = [], []

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
        qh = node("Transpose", [node("Reshape", [q, shape], "q4")], "qh", perm=[0, 2, 1, 3])   # [B,H,T,hd]
        kt = node("Transpose", [node("Reshape", [k, shape], "k4")], "kt", perm=[0, 2, 3, 1])   # [B,H,hd,T]
        vh = node("Transpose", [node("Reshape", [v, shape], "v4")], "vh", perm=[0, 2, 1, 3])
        s = node("MatMul", [qh, kt], "s")
        if p["qkv_proj"]:
            s = node("Mul", [s, const("scale", np.array(1.0 / math.sqrt(hd), dtype=np.float32))], "s_scaled")
        if p["causal"]:
            mask = np.triu(np.full((T, T), -np.inf, dtype=np.float32), 1)
            s = node("Add", [s, const("causal_mask", mask)], "s_masked")
        a = node("Softmax", [s], "a", axis=-1)
        if p["dropout_p"] > 0:
            a = node("Mul", [a, const("dropout_mask", dropout_mask(p))], "a_dropped")
        c = node("MatMul", [a, vh], "ctx_h")
        c = node("Reshape", [node("Transpose", [c], "ctx_t", perm=[0, 2, 1, 3]),
                             const("ctx_shape", np.array([B, T, dout], dtype=np.int64))], "ctx")
        if p["out_proj"]:
            c = proj(c, "w_o", "b_o", "out")
        graph = helper.make_graph(nodes, "attention",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [B, T, din])],
                                  [helper.make_tensor_value_info(c, TensorProto.FLOAT, [B, T, dout])], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        onnx.checker.check_model(model)
        return session_runner(model, threads, x, c)
