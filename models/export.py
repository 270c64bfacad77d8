"""Hugging Face folder -> ONNX decoder with past key values (fp32) -> quantized variants.

Like convert.py, each function is a recipe step run in a subprocess with plain arguments.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path


def export_onnx(hf_dir: str, out_path: str) -> dict:
    """onnxruntime-genai's model builder: a graph made for ONNX Runtime, with its fused operators
    (GroupQueryAttention with the rotary embedding inside, SkipSimplifiedLayerNormalization, one MatMul for
    q/k/v). SmolLM2 gets 341 nodes, where optimum's generic export has 8,178 (mostly shape arithmetic): in
    onnxruntime-web (Node, 1 thread) the int8 session starts in 0.7 s and decodes 33.6 ms per token (the
    generic export: 2.5 s and 40.0 ms), with the same greedy tokens.
    """
    import onnx
    from onnxruntime_genai.models.builder import create_model

    from .graph import fold_rotary_caches

    out = Path(out_path)
    config = json.loads((Path(hf_dir) / "config.json").read_text(encoding="utf-8"))
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as tmp:
        built = Path(tmp) / "model"
        create_model(hf_dir, hf_dir, str(built), "fp32", "cpu", str(Path(tmp) / "cache"), filename="model.onnx")
        model = onnx.load(str(built / "model.onnx"))  # with its external data
    folded = fold_rotary_caches(model, float(config.get("rope_theta", 10000.0)), head_dim)
    # One file: what Transformers.js loads by default (external data needs extra options).
    onnx.save(model, str(out))
    return {"bytes": out.stat().st_size, "nodes": len(model.graph.node), "rotary_tables_folded": folded}


def quantize_q8(fp32_path: str, out_path: str) -> dict:
    """int8 weights, activations quantized on the fly (MatMulInteger): the fast path in ONNX Runtime's WASM.

    Weights get one scale per output channel: after smoothing (smooth.py) their input rows differ widely.
    (Measured on smoothed SmolLM2: per-channel 89% agreement, per-channel + reduce_range 86%, per-tensor 48%.)
    The tied embedding is read from the head's int8 weight (graph.embed_from_int8_head): one copy, one
    scale per vocabulary row. This is the file WebAssembly loads, so attention is rewritten into operators
    that are fast on long prompts there, and the head runs on the last position only while a prompt is
    processed (attention.py); runs of a few tokens compute exactly what one token per step computes, so
    speculative decoding can check drafts in one run (rows.py).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from .attention import attention_for_wasm, logits_for_last_positions
    from .graph import embed_from_int8_head
    from .rows import rows_apart

    out = Path(out_path)
    quantize_dynamic(fp32_path, out_path, weight_type=QuantType.QInt8, per_channel=True, reduce_range=False,
                     op_types_to_quantize=["MatMul"])
    model = onnx.load(out_path)
    shared = embed_from_int8_head(model)
    attention = attention_for_wasm(model)
    last_logits = logits_for_last_positions(model)
    exact_rows = rows_apart(model)
    onnx.save(model, out_path)
    return {"bytes": out.stat().st_size, "embedding_shared_with_head": shared, "attention_rewritten": attention,
            "logits_for_last_positions": last_logits, "rows_apart": exact_rows}


def quantize_q4(fp32_path: str, out_path: str, block_size: int = 32, symmetric: bool = True) -> dict:
    """4-bit blockwise weights (MatMulNBits); the tied embedding / lm_head stay fp32 (one copy).

    Measured on smoothed SmolLM2: block 32 symmetric 82% agreement, block 64 asymmetric 82%, block 32
    asymmetric 78%. This is the WebGPU file: its GroupQueryAttention has a WebGPU kernel and stays; the head
    runs on the last position only while a prompt is processed."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    from .attention import logits_for_last_positions
    from .graph import head_from_embedding

    model = onnx.load(fp32_path)
    shared = head_from_embedding(model)
    quantizer = MatMulNBitsQuantizer(model, bits=4, block_size=block_size, is_symmetric=symmetric,
                                     op_types_to_quantize=("MatMul",))
    quantizer.process()
    model = quantizer.model.model
    last_logits = logits_for_last_positions(model)
    onnx.save(model, out_path)
    return {"bytes": Path(out_path).stat().st_size, "head_shared_with_embedding": shared,
            "logits_for_last_positions": last_logits}


def optimize_for_runtime(onnx_path: str) -> dict:
    """The file rewritten as ONNX Runtime's CPU optimizer leaves it (level "extended": fusions such as
    DynamicQuantizeMatMul and QuickGelu; no hardware-specific layouts), so the page creates its WebAssembly
    session with the basic level only. Constant folding is left to that level: folded, the rotary tables
    and the int8 weights' column sums would add 2.8 MB to the download. Measured in onnxruntime-web (Node,
    1 thread, SmolLM2 int8, three rounds): session creation 0.9-1.3 s instead of 1.3-2.4 s, the same greedy
    tokens and decoding speed, the file 0.1% smaller."""
    import onnxruntime as ort

    path = Path(onnx_path)
    before = path.stat().st_size
    optimized = path.with_name(path.stem + ".optimized.onnx")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(optimized)
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=["ConstantFolding"])
    optimized.replace(path)
    return {"bytes_before": before, "bytes": path.stat().st_size, "onnxruntime": ort.__version__,
            "level": "extended"}
