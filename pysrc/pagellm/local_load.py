"""Loading a local model in the page (Pyodide only): the device and dtype, Transformers.js's env pointed at
the site, then the tokenizer and the ONNX Runtime session: the ones web/python-boot.mjs made while Python
started when they are what is wanted, else made here. A WebGPU session that fails leaves WebAssembly.

    loaded = await load_model(engine, report)   # engine: what to load (a pagellm.local.LocalEngine)
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from .dtypes import choose_dtype, session_options
from .engine import Progress
from .errors import ModelLoadError
from .local_choices import SLOW_ATTENTION_NOTICE, choose_device, download_files, explain_load_failure, js_message
from .page_runtime import (claim_early_load, early_load_matches, import_engine_js, import_transformers, loaded_build,
                           mark_loaded, ort_build_for, transformers, webgpu_adapter_info)


@dataclass
class LoadedModel:
    tokenizer: Any
    model: Any
    device: str
    dtype: str
    notice: str | None
    engine_js: Any            # web/engine-env.js
    prompt_js: Any            # its promptOps(): the prompt and key/value cache operations
    operators: set[str]       # what the graph showed (engine-env.js MARKERS)
    started_early: bool       # the session is the one web/python-boot.mjs created while Python started
    keepalive: list = field(default_factory=list)  # the callbacks Transformers.js's env holds


async def load_model(want, report) -> LoadedModel:
    """Load what ``want`` names (model_id, source, site_url, requested_device, requested_dtype, threads,
    dtypes, file_sizes, files, runtime_optimized), telling ``report`` the stages and bytes."""
    return await _Load(want, report).run()


class _Load:
    def __init__(self, want, report):
        self.want, self.report = want, report
        self.notice: str | None = None
        self.operators: set[str] = set()
        self.started_early = False

    async def run(self) -> LoadedModel:
        from pyodide.ffi import create_proxy, to_js
        import js

        want, report = self.want, self.report
        report(Progress("Loading Transformers.js"))
        early, plan = await claim_early_load()
        T = await import_transformers(want.site_url)
        self.engine_js = await import_engine_js(want.site_url)

        adapter = await webgpu_adapter_info() if want.requested_device != "wasm" else None
        self.device, self.notice = choose_device(want.requested_device, adapter is not None)
        build, device, note = ort_build_for(self.device, loaded_build())
        self.ort_build = build
        if device != self.device:
            self.device, self.notice = device, note
        self.dtype = want.requested_dtype or choose_dtype(self.device, want.dtypes)
        if self.device == "webgpu" and adapter and adapter["fallback"]:
            self.notice = "WebGPU runs on a software adapter here (no GPU): expect it to be slower than WebAssembly."

        total = sum(want.file_sizes.get(f, 0) for f in download_files(self.dtype)) or None
        loaded = {"bytes": 0, "last": 0.0}

        def on_bytes(url, count):
            loaded["bytes"] += count
            now = time.perf_counter()
            if now - loaded["last"] > 0.1:  # ~10 updates a second are plenty for a progress bar
                loaded["last"] = now
                report(Progress("Downloading model", loaded["bytes"], total, str(url)))

        self.failed = asyncio.get_event_loop().create_future()

        def on_failure(message):
            if not self.failed.done():
                self.failed.set_result(str(message))

        proxies = [create_proxy(on_bytes), create_proxy(on_failure), create_proxy(lambda op: self.operators.add(str(op)))]
        files = to_js(want.files, dict_converter=js.Map.new)
        inputs = {"T": T, "base": want.site_url, "source": to_js(want.source, dict_converter=js.Object.fromEntries),
                  "ortBuild": build, "files": files, "onBytes": proxies[0], "onFailure": proxies[1],
                  "onOperator": proxies[2]}
        env = self.engine_js.configureEnv(to_js(inputs, dict_converter=js.Object.fromEntries))
        self._set_threads(env, js)
        if early is not None:
            wanted = {"base": want.site_url, "model": want.model_id, "device": self.device, "dtype": self.dtype,
                      "ortBuild": build, "threads": want.threads,
                      "sessionOptions": session_options(self.device, self.dtype, want.runtime_optimized)}
            if want.source.get("kind") != "site" or not early_load_matches(plan, wanted):
                early.discard()
                early = None
        try:
            if early is None or not await self._adopt_early(early):
                await self._load_weights(T, to_js, js)
        except ModelLoadError as err:  # a WebGPU session that fails still leaves WebAssembly
            if self.device != "webgpu":
                raise
            self.notice = f"WebGPU failed ({err.message}): running on WebAssembly (CPU) instead."
            self.device, self.dtype = "wasm", want.requested_dtype or choose_dtype("wasm", want.dtypes)
            await self._load_weights(T, to_js, js)
        finally:
            files.clear()  # what this load did not use (another device's weights): let it go
            report(Progress("Ready", 1, 1))
        if self.device == "wasm" and "GroupQueryAttention" in self.operators:
            self._add_notice(SLOW_ATTENTION_NOTICE)
        return LoadedModel(self.tokenizer, self.model, self.device, self.dtype, self.notice, self.engine_js,
                           self.prompt_js, self.operators, self.started_early, proxies)

    async def _adopt_early(self, early) -> bool:
        """Take the tokenizer and session made while Python started; False when that load failed."""
        self.report(Progress("Preparing the model (ONNX Runtime session)"))
        try:
            result = await early.load
        except Exception:  # noqa: BLE001 - a file or the session failed early: load here, with its message
            return False
        mark_loaded(self.ort_build)
        self.tokenizer, self.model = result.tokenizer, result.model
        self.started_early = True
        self.operators |= {str(op) for op in result.operators}
        self.engine_js.yieldEachStep(self.model)
        self.prompt_js = self.engine_js.promptOps(transformers())
        return True

    def _add_notice(self, note: str) -> None:
        self.notice = f"{self.notice} {note}" if self.notice else note

    def _set_threads(self, env, js) -> None:
        """WebAssembly threads need SharedArrayBuffer, which only a cross-origin isolated page has."""
        threads = self.want.threads
        isolated = bool(getattr(js, "crossOriginIsolated", False))
        if threads is not None:
            env.backends.onnx.wasm.numThreads = threads if isolated else 1
            if threads > 1 and not isolated:
                self._add_notice(f"{threads} threads were requested, but this page is not cross-origin "
                                 "isolated: running single-threaded.")

    async def _load_weights(self, T, to_js, js) -> None:
        want = self.want
        options = {"device": self.device, "dtype": self.dtype,
                   "session_options": session_options(self.device, self.dtype, want.runtime_optimized)}
        if want.source.get("revision"):
            options["revision"] = want.source["revision"]
        options = to_js(options, dict_converter=js.Object.fromEntries)
        try:
            revision = to_js({"revision": want.source.get("revision", "main")}, dict_converter=js.Object.fromEntries)
            self.tokenizer = await self._unless_fetch_failed(T.AutoTokenizer.from_pretrained(want.model_id, revision))
            self.report(Progress("Preparing the model (ONNX Runtime session)"))
            mark_loaded(self.ort_build)  # the first session loads ONNX Runtime's module
            self.model = await self._unless_fetch_failed(T.AutoModelForCausalLM.from_pretrained(want.model_id, options))
            self.engine_js.yieldEachStep(self.model)
            self.prompt_js = self.engine_js.promptOps(T)
        except ModelLoadError:
            raise
        except Exception as err:
            raise explain_load_failure(want.model_id, js_message(err)) from None

    async def _unless_fetch_failed(self, promise):
        """Await a Transformers.js load, but fail at once with the reason when one of its files failed."""
        task = asyncio.ensure_future(promise)
        await asyncio.wait({task, self.failed}, return_when=asyncio.FIRST_COMPLETED)
        if self.failed.done():
            task.cancel()
            raise ModelLoadError(f"The model {self.want.model_id} could not be loaded: {self.failed.result()}")
        return task.result()
