"""The page's runtime for the local engine (Pyodide only, browser glue): which ONNX Runtime build a
worker loads, Transformers.js and the engine's JavaScript (web/engine-env.js) loaded once per page, the
model load web/python-boot.mjs starts before Python, and the WebGPU adapter the browser grants.

    T = await import_transformers(site_url)
    build, device, notice = ort_build_for("webgpu", loaded_build())
"""

from __future__ import annotations

import json

# ONNX Runtime's WebAssembly builds (files in vendor/ort/). The asyncify build, which Transformers.js loads
# by default, is the one that can run WebGPU; its instrumentation (every call that may suspend) makes the
# CPU kernels about half as fast: SmolLM2 int8 decodes 34 ms per token with the plain build and 77-87 ms with
# asyncify (onnxruntime-web 1.31 in Node, 1 thread: `node bench/ort_node.mjs FILE [--asyncify]`). A worker
# loads one build, once.
ORT_BUILDS = {"wasm": "ort-wasm-simd-threaded", "webgpu": "ort-wasm-simd-threaded.asyncify"}
_ort_loaded: str | None = None  # the build this worker loaded (one per worker)


def ort_build_for(device: str, loaded: str | None) -> tuple[str, str, str | None]:
    """(build, device, notice) for a load on `device` when `loaded` (or no) build is in the worker already."""
    if loaded is None:
        return ORT_BUILDS[device], device, None
    if device == "webgpu" and loaded != ORT_BUILDS["webgpu"]:
        return loaded, "wasm", ("WebGPU needs a fresh page once WebAssembly has run in this one: "
                                "running on WebAssembly; reload the page to use WebGPU.")
    return loaded, device, None


def loaded_build() -> str | None:
    return _ort_loaded


def mark_loaded(build: str) -> None:
    """A session is being created: ONNX Runtime's module of ``build`` is the worker's from now on."""
    global _ort_loaded
    _ort_loaded = _ort_loaded or build


def transformers():
    """The Transformers.js module ``import_transformers`` loaded."""
    return _transformers


def use_ort_build(device: str) -> tuple[str, str, str | None]:
    """The ONNX Runtime build a session on ``device`` gets in this worker (the first one loaded stays)."""
    global _ort_loaded
    build, device, note = ort_build_for(device, _ort_loaded)
    _ort_loaded = _ort_loaded or build
    return build, device, note


_transformers = None
_engine_js = None


async def claim_early_load():
    """The load web/python-boot.mjs started before Python (once per page) and its plan, or (None, None).
    ONNX Runtime's module is loaded once per worker, so from here on its build is the early load's."""
    global _ort_loaded
    import js

    early = getattr(js.globalThis, "pagellmEarly", None)
    if early is None:
        return None, None
    js.globalThis.pagellmEarly = None
    plan = json.loads(js.JSON.stringify(await early.plan))  # JSON: a JS null must read as None
    _ort_loaded = _ort_loaded or plan["ortBuild"]
    return early, plan


def early_load_matches(plan: dict, wanted: dict) -> bool:
    """Whether the early load is the one wanted now (same site, model, device, dtype, build, threads).

    >>> wanted = {"base": "/", "model": "m", "device": "wasm", "dtype": "q8", "ortBuild": "b", "threads": None}
    >>> early_load_matches(dict(wanted), wanted), early_load_matches({**wanted, "dtype": "q4"}, wanted)
    (True, False)
    """
    return all(plan.get(key) == value for key, value in wanted.items())


async def import_transformers(site_url: str):
    """Transformers.js from the site (once per page), with its env pointed at the site."""
    global _transformers
    if _transformers is None:
        from transformers_js_py import import_transformers_js

        module = await import_transformers_js(site_url + "vendor/transformers.min.js")
        _transformers = module.js_obj
    return _transformers


async def import_engine_js(site_url: str):
    """web/engine-env.js, the engine's JavaScript (once per page)."""
    global _engine_js
    if _engine_js is None:
        from pyodide.code import run_js

        _engine_js = await run_js("(url) => import(url)")(site_url + "engine-env.js")
    return _engine_js


async def webgpu_adapter_info() -> dict | None:
    """The WebGPU adapter the browser grants, or None: asked for, never assumed."""
    import js

    gpu = getattr(js.navigator, "gpu", None)
    if gpu is None:
        return None
    try:
        adapter = await gpu.requestAdapter()
    except Exception:
        return None
    if adapter is None:
        return None
    try:  # an adapter that cannot give a device is no WebGPU either
        device = await adapter.requestDevice()
        device.destroy()
    except Exception:
        return None
    info = getattr(adapter, "info", None)
    return {
        "fallback": bool(getattr(info, "isFallbackAdapter", False) or getattr(adapter, "isFallbackAdapter", False)),
        "vendor": str(getattr(info, "vendor", "") or ""),
    }
