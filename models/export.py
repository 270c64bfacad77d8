"""Hugging Face folder -> ONNX decoder with past key values (fp32) -> quantized variants.

Like convert.py, each function is a recipe step run in a subprocess with plain arguments.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path


def export_onnx(hf_dir: str, out_path: str) -> dict:
    """optimum's exporter, task text-generation-with-past: one graph for the prompt and for each new token."""
    from optimum.exporters.onnx import main_export

    out = Path(out_path)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as tmp:
        # Validation is our own check later (recipe.check), against the same torch model.
        main_export(hf_dir, output=tmp, task="text-generation-with-past", device="cpu", do_validation=False)
        produced = sorted(p.name for p in Path(tmp).iterdir())
        if "model.onnx" not in produced or any(p.endswith("_data") for p in produced):
            # A single file is what Transformers.js loads by default (external data needs extra options).
            raise RuntimeError(f"unexpected export output: {produced}")
        shutil.move(str(Path(tmp) / "model.onnx"), out)
    return {"bytes": out.stat().st_size}


def quantize_q8(fp32_path: str, out_path: str) -> dict:
    """int8 weights, activations quantized on the fly (MatMulInteger): the fast path in ONNX Runtime's WASM.

    Weights get one scale per output channel: after smoothing (smooth.py) their input rows differ widely.
    (Measured on smoothed SmolLM2: per-channel 89% agreement, per-channel + reduce_range 86%, per-tensor 48%.)
    The tied embedding is quantized too (uint8, per tensor), which costs no measurable agreement.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(fp32_path, out_path, weight_type=QuantType.QInt8, per_channel=True, reduce_range=False,
                     extra_options={"EnableSubgraph": True})
    return {"bytes": Path(out_path).stat().st_size}


def quantize_q4(fp32_path: str, out_path: str, block_size: int = 32, symmetric: bool = True) -> dict:
    """4-bit blockwise weights (MatMulNBits); the tied embedding / lm_head stay fp32.

    Measured on smoothed SmolLM2: block 32 symmetric 82% agreement, block 64 asymmetric 82%, block 32
    asymmetric 78%."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(onnx.load(fp32_path), bits=4, block_size=block_size,
                                     is_symmetric=symmetric, op_types_to_quantize=("MatMul",))
    quantizer.process()
    onnx.save(quantizer.model.model, out_path)
    return {"bytes": Path(out_path).stat().st_size}
