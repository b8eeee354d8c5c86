"""ONNX Runtime's fused attention: the com.microsoft.Attention contrib operator (one node for
the QKV projection, scaled scores, causal mask via `unidirectional`, softmax and P.V; ORT's CPU
kernel runs it head by head on its MLAS GEMMs), then MatMul/Add for the output projection."""
import numpy as np

from .common import V2_UNSUPPORTED, uses_v2
from .onnxruntime_peer import OnnxRuntimePeer, session_runner


class OnnxRuntimeAttentionPeer(OnnxRuntimePeer):  # available() and the input-only rotation
    name = "onnxruntime-attention"

    @staticmethod
    def info():
        import onnxruntime
        return {"version": onnxruntime.__version__,
                "kernels": "com.microsoft.Attention (fused CPU contrib kernel on MLAS GEMMs), CPUExecutionProvider"}

    @staticmethod
    def supports(p):
        if uses_v2(p):
            # com.microsoft.Attention has one K/V head per query head; GroupQueryAttention has
            # the grouped heads, the window and a past cache but not as this peer builds its
            # graph (packed QKV, seqlens_k inputs): the `onnxruntime` peer runs these forms.
            return "com.microsoft.Attention: " + V2_UNSUPPORTED + " (the onnxruntime peer runs them)"
        if not p["qkv_proj"]:
            return "com.microsoft.Attention always projects Q, K, V: the simplified variant (no weights) has none"
        if p["dropout_p"] > 0:
            return "com.microsoft.Attention has no dropout on the attention weights"
        return ""

    @staticmethod
    def prepare(p, x, w, threads):
        from onnx import TensorProto, helper, numpy_helper
        B, T, din, dout, H = p["batch"], p["seq_len"], p["d_in"], p["d_out"], p["heads"]
        weights = np.ascontiguousarray(np.concatenate([w["w_q"], w["w_k"], w["w_v"]], axis=1), dtype=np.float32)
        if p["qkv_bias"]:
            bias = np.concatenate([w["b_q"], w["b_k"], w["b_v"]]).astype(np.float32)
        else:
            bias = np.zeros(3 * dout, dtype=np.float32)  # the operator requires one
        inits = [numpy_helper.from_array(weights, "qkv_w"), numpy_helper.from_array(bias, "qkv_b")]
        nodes = [helper.make_node("Attention", ["x", "qkv_w", "qkv_b"], ["ctx"], domain="com.microsoft",
                                  num_heads=H, unidirectional=int(bool(p["causal"])))]
        out = "ctx"
        if p["out_proj"]:
            inits += [numpy_helper.from_array(np.ascontiguousarray(w["w_o"], dtype=np.float32), "w_o"),
                      numpy_helper.from_array(np.ascontiguousarray(w["b_o"], dtype=np.float32), "b_o")]
            nodes += [helper.make_node("MatMul", ["ctx", "w_o"], ["ctx_o"]),
                      helper.make_node("Add", ["ctx_o", "b_o"], ["out"])]
            out = "out"
        graph = helper.make_graph(nodes, "attention",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [B, T, din])],
                                  [helper.make_tensor_value_info(out, TensorProto.FLOAT, [B, T, dout])], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                        helper.make_opsetid("com.microsoft", 1)])
        return session_runner(model, threads, x, out)
