"""The local engine's decisions that need no browser: device, dtype, generate() options, failure messages."""

from __future__ import annotations

import pytest

from pagellm import GenerationSettings
from pagellm.errors import DeviceError, ModelLoadError
from pagellm.dtypes import choose_dtype
from pagellm.local import LocalEngine
from pagellm.local_choices import choose_device, explain_load_failure, generation_options


def test_device_is_chosen_honestly():
    assert choose_device("auto", True) == ("webgpu", None)
    assert choose_device("auto", False) == ("wasm", None)
    assert choose_device("wasm", True) == ("wasm", None)
    device, notice = choose_device("webgpu", False)
    assert device == "wasm" and "WebGPU was requested" in notice
    with pytest.raises(DeviceError, match="Unknown device 'cuda'"):
        choose_device("cuda", True)


def test_dtype_suits_the_device():
    assert choose_dtype("wasm", ["q4", "q8"]) == "q8"
    assert choose_dtype("webgpu", ["q4", "q8"]) == "q4"
    assert choose_dtype("webgpu", ["q8"]) == "q8"
    with pytest.raises(ModelLoadError):
        choose_dtype("wasm", [])


def test_generation_options_greedy_and_sampling():
    assert generation_options(GenerationSettings(temperature=0, max_new_tokens=5)) == {
        "max_new_tokens": 5, "repetition_penalty": 1.1, "do_sample": False}
    sampled = generation_options(GenerationSettings(temperature=0.8, top_p=0.9, top_k=20))
    assert sampled["do_sample"] and sampled["temperature"] == 0.8 and sampled["top_k"] == 20


def test_load_failures_are_explained():
    assert "does not fit" in str(explain_load_failure("m", "RangeError: WebAssembly.Memory(): could not allocate memory"))
    assert "missing" in str(explain_load_failure("m", "Could not locate file: /models/m/onnx/model_q4.onnx (404)"))
    assert "architecture" in str(explain_load_failure("m", "Unsupported model type: mamba"))


async def _load(engine):
    await engine.load()


def test_local_engine_says_it_needs_a_browser_on_cpython():
    import asyncio

    with pytest.raises(DeviceError, match="inside a browser page"):
        asyncio.run(_load(LocalEngine("tiny-random")))


def test_onnx_runtime_build_follows_the_first_device_then_stays():
    from pagellm.page_runtime import ORT_BUILDS, ort_build_for

    assert ort_build_for("wasm", None) == (ORT_BUILDS["wasm"], "wasm", None)
    assert ort_build_for("webgpu", None) == (ORT_BUILDS["webgpu"], "webgpu", None)
    # WebAssembly on the WebGPU-capable build: allowed, only slower.
    assert ort_build_for("wasm", ORT_BUILDS["webgpu"]) == (ORT_BUILDS["webgpu"], "wasm", None)
    build, device, notice = ort_build_for("webgpu", ORT_BUILDS["wasm"])
    assert (build, device) == (ORT_BUILDS["wasm"], "wasm") and "reload the page" in notice
