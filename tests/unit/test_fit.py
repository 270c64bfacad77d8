"""The fit check that runs before a Hub or folder model is downloaded."""

import pytest

from pagellm.errors import ModelLoadError
from pagellm.fit import plan_download

SMOL = {"model_type": "llama", "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
        "hidden_size": 576}


def test_the_dtype_suits_the_device():
    sizes = {"onnx/model_quantized.onnx": 137_000_000, "onnx/model_q4.onnx": 181_000_000}
    assert plan_download(SMOL, sizes, "wasm").dtype == "q8"
    assert plan_download(SMOL, sizes, "webgpu").dtype == "q4"


def test_too_large_for_webassembly_is_refused_with_the_reason():
    plan = plan_download(SMOL, {"onnx/model.onnx": 4_500_000_000}, "wasm")
    assert plan.verdict == "refuse" and "at most 4 GB" in plan.reason and plan.confirm


def test_device_memory_warns_then_refuses():
    sizes = {"onnx/model_q4.onnx": 1_000_000_000}
    assert plan_download(SMOL, sizes, "webgpu", device_memory_gb=2).verdict == "warn"
    assert plan_download(SMOL, sizes, "webgpu", device_memory_gb=1).verdict == "refuse"
    assert plan_download(SMOL, sizes, "webgpu", device_memory_gb=8).verdict == "ok"


def test_unsupported_architecture_and_missing_weights():
    with pytest.raises(ModelLoadError, match="bert, which pagellm cannot chat with"):
        plan_download({"model_type": "bert"}, {"onnx/model.onnx": 1}, "wasm")
    with pytest.raises(ModelLoadError, match="no ONNX weights"):
        plan_download(SMOL, {}, "wasm")
