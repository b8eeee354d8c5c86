"""The framework peers, one module each. A peer class has:
    name                      "onnxruntime", "openvino", "torch", "torch-mha"
    available() -> str|None   the framework version, None when it cannot be imported
    info() -> dict            what it says about itself: version, kernels / BLAS it uses (env.json)
    supports(p) -> str        "" or why this problem is not run (an UNSUPPORTED row)
    prepare(p, x, w, threads) -> callable returning out [B, T, d_out] (float32 numpy)
Everything framework-specific is imported inside these methods, so a missing framework only
makes its peer unavailable.
"""
from .onnxruntime_attention_peer import OnnxRuntimeAttentionPeer
from .onnxruntime_peer import OnnxRuntimePeer
from .openvino_peer import OpenVinoPeer
from .torch_peer import TorchMhaPeer, TorchPeer

PEERS = {c.name: c for c in (OnnxRuntimePeer, OnnxRuntimeAttentionPeer, OpenVinoPeer, TorchPeer, TorchMhaPeer)}
