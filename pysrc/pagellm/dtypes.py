"""Weight variants: the ONNX file Transformers.js loads for each dtype, and the dtype each device prefers.

    >>> onnx_path("q8")
    'onnx/model_quantized.onnx'
    >>> choose_dtype("webgpu", ["q8", "q4"])
    'q4'
    >>> choose_dtype("wasm", ["q4", "q8"], HUB_PREFERENCE)
    'q8'
    >>> session_options("wasm", "q8", ["onnx/model_quantized.onnx"])
    {'graphOptimizationLevel': 'basic'}

The same table as Transformers.js's ``utils/dtypes.js`` (``DEFAULT_DTYPE_SUFFIX_MAPPING``): the model
recipe writes these names, the engine asks for them and the build hands ``DTYPE_FILES`` to the page.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from .errors import ModelLoadError

__all__ = ["DTYPE_FILES", "LOCAL_PREFERENCE", "HUB_PREFERENCE", "onnx_path", "choose_dtype", "session_options"]

# dtype -> the file Transformers.js requests under onnx/.
DTYPE_FILES: dict[str, str] = {
    "fp32": "model.onnx",
    "fp16": "model_fp16.onnx",
    "q8": "model_quantized.onnx",
    "int8": "model_int8.onnx",
    "uint8": "model_uint8.onnx",
    "q4": "model_q4.onnx",
    "q4f16": "model_q4f16.onnx",
    "bnb4": "model_bnb4.onnx",
}

# device -> dtypes, best first, for the site's own models (the recipe writes fp32, q8 and q4): int8
# MatMulInteger is fast in WebAssembly; WebGPU has no int8 matmul kernels but runs 4-bit MatMulNBits natively.
LOCAL_PREFERENCE: Mapping[str, tuple[str, ...]] = {"wasm": ("q8", "q4", "fp32"), "webgpu": ("q4", "fp32", "q8")}

# The same for Hub models and picked folders, which often bring half-precision files that WebGPU runs best.
HUB_PREFERENCE: Mapping[str, tuple[str, ...]] = {
    "wasm": ("q8", "q4", "fp32", "fp16"),
    "webgpu": ("q4f16", "fp16", "q4", "fp32", "q8"),
}


def onnx_path(dtype: str) -> str:
    """The path of a dtype's file inside a model folder."""
    return f"onnx/{DTYPE_FILES[dtype]}"


def choose_dtype(device: str, available: Iterable[str],
                 preference: Mapping[str, tuple[str, ...]] = LOCAL_PREFERENCE) -> str:
    """The dtype to load on ``device`` among ``available``, or ModelLoadError when none suits it."""
    available = set(available)
    for dtype in preference[device]:
        if dtype in available:
            return dtype
    raise ModelLoadError(f"This model has none of the weight files {device} can run ({', '.join(preference[device])}).")


def session_options(device: str, dtype: str, runtime_optimized: Iterable[str]) -> dict:
    """ONNX Runtime session options for ``dtype``'s file on ``device``. A file the model recipe saved as ONNX
    Runtime's CPU optimizer leaves it (``runtime_optimized``, paths in the model folder) needs only the basic
    level (constant folding) in WebAssembly: its session is created about a second sooner. Anything else
    is optimized as usual."""
    if device == "wasm" and onnx_path(dtype) in set(runtime_optimized):
        return {"graphOptimizationLevel": "basic"}
    return {}
