"""The local engine: a model running in this page through Transformers.js (Pyodide only).

Every file comes from the site itself: Transformers.js is told never to look on a hub or CDN, and
its fetches are resolved against the site's base URL (which also makes a sub-path deploy work).

    engine = LocalEngine("smollm2-135m-instruct", site_url="https://me.github.io/pagellm/")
    await engine.load(progress=lambda p: print(p.stage, p.fraction))
    async for event in engine.stream(conversation, GenerationSettings(temperature=0)):
        ...

The choices that do not need a browser (device, dtype, generation options) are plain functions,
unit-tested on CPython.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from .dtypes import choose_dtype, onnx_path, session_options
from .engine import Citations, ContextUse, Delta, Progress, ProgressCallback, Reading, ReplyClock
from .errors import DeviceError, GenerationError, InputError, ModelLoadError, SettingsError, ToolLoopError
from .messages import Conversation
from .page_runtime import (claim_early_load, early_load_matches, import_engine_js, import_transformers, loaded_build,
                           mark_loaded, ort_build_for, transformers, webgpu_adapter_info)
from .prefill import CachedPrompt, after_prompt, after_reply, common_prefix, plan_prompt, settle_chunks
from .local_speculation import can_speculate, speculative_reply
from .site import page_base_url
from .settings import GenerationSettings
from .stops import StopStrings
from .tools import Tool, ToolResultEvent, calls_in_text, run_calls, template_supports_tools

DEVICES = ("auto", "webgpu", "wasm")
CONFIG_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json")


def choose_device(requested: str, webgpu_available: bool) -> tuple[str, str | None]:
    """The device to run on, and a notice when the request could not be honoured."""
    if requested not in DEVICES:
        raise DeviceError(f"Unknown device {requested!r}: use one of {', '.join(DEVICES)}.")
    if requested == "wasm":
        return "wasm", None
    if webgpu_available:
        return "webgpu", None
    if requested == "webgpu":
        return "wasm", "WebGPU was requested but this browser granted no adapter: running on WebAssembly (CPU)."
    return "wasm", None


def generation_options(settings: GenerationSettings) -> dict:
    """Transformers.js `generate()` options for these settings."""
    options = {"max_new_tokens": settings.max_new_tokens, "repetition_penalty": settings.repetition_penalty}
    if settings.greedy:
        options["do_sample"] = False
    else:
        options.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k)
    return options


def download_files(dtype: str) -> list[str]:
    return [*CONFIG_FILES, onnx_path(dtype)]


def explain_load_failure(model: str, message: str) -> ModelLoadError:
    lowered = message.lower()
    if "memory" in lowered or "allocation" in lowered or "out of bounds" in lowered:
        return ModelLoadError(f"The model {model} does not fit in this device's memory.",
                              hint="Choose a smaller model or a smaller dtype, or close other tabs.")
    if "404" in message or "not found" in lowered or "could not locate" in lowered:
        return ModelLoadError(f"A file of the model {model} is missing on the site: {message}",
                              hint="Rebuild the site (python build.py build) or pick another model.")
    if "unsupported model type" in lowered or "not supported" in lowered:
        return ModelLoadError(f"The model {model} has an architecture Transformers.js cannot run: {message}")
    return ModelLoadError(f"The model {model} could not be loaded: {message}")


# -- browser side ----------------------------------------------------------------------------

SLOW_ATTENTION_NOTICE = (
    "This model's graph uses GroupQueryAttention, whose WebAssembly kernel reads long prompts slowly "
    "(about 5x slower at 1,000 tokens than the rewritten attention of the bundled models); short chats are "
    "not affected. Convert it with this project's recipe (models/) for fast long prompts.")

class LocalEngine:
    """A Transformers.js causal LM running in the page (WebGPU or WebAssembly)."""

    def __init__(self, model: str, *, site_url: str | None = None, device: str = "auto", dtype: str | None = None,
                 threads: int | None = None,
                 dtypes: tuple[str, ...] = ("q8", "q4", "fp32"), file_sizes: dict | None = None,
                 context_length: int = 2048, name: str | None = None, source: dict | None = None,
                 files: dict | None = None, runtime_optimized: tuple[str, ...] = ()):
        if device not in DEVICES:
            raise DeviceError(f"Unknown device {device!r}: use one of {', '.join(DEVICES)}.")
        self.model_id = model
        self.source = source or {"kind": "site"}  # or {"kind": "hub", "host", "revision"}, {"kind": "folder"}
        self.name = name or model
        self.site_url = site_url
        self.requested_device = device
        self.requested_dtype = dtype
        if threads is not None and (not isinstance(threads, int) or not 1 <= threads <= 64):
            raise SettingsError("threads", f"must be a whole number from 1 to 64, got {threads!r}")
        self.threads = threads
        self.dtypes = tuple(dtypes)
        self.file_sizes = file_sizes or {}
        self.runtime_optimized = tuple(runtime_optimized)  # files saved optimized by the recipe (dtypes.session_options)
        self.files = dict(files or {})  # site path -> Blob/File served instead of fetched (prefetched, a folder)
        self.context_length = context_length
        self.device: str | None = None
        self.dtype: str | None = None
        self.notice: str | None = None
        self.load_seconds: float | None = None
        self._tokenizer = None
        self._model = None
        self._stopper = None
        self._cancelled = False
        self.reuse_cache = True       # keep the key/value cache between turns (False: every turn from scratch)
        self._prompt_js = None
        self._cache = None            # the JS DynamicCache of the last turn
        self._cached: CachedPrompt | None = None
        self._settling = None         # the task feeding the last reply's full runs in the background
        self._settling_known: list[int] = []
        self._epoch = 0               # bumped whenever the cache is dropped or taken, so a late settle is void
        self._early_operators: set[str] = set()  # operators the early load's files showed (web/python-boot.mjs)
        self.operators: set[str] = set()  # what the loaded graph showed (engine-env.js MARKERS)
        self.started_early = False    # the session is the one web/python-boot.mjs created while Python started

    @classmethod
    def for_site_model(cls, entry: dict, *, site_url: str, device: str = "auto", threads: int | None = None,
                       files: dict | None = None) -> "LocalEngine":
        """The engine for one of the site's models, from its entry in models/catalog.json."""
        return cls(entry["id"], site_url=site_url, device=device, threads=threads, dtypes=tuple(entry.get("dtypes", ())),
                   file_sizes=entry.get("files", {}), context_length=entry.get("context_length", 2048),
                   name=entry.get("name"), files=files, runtime_optimized=tuple(entry.get("runtime_optimized", ())))

    async def load(self, progress: ProgressCallback | None = None) -> None:
        if sys.platform != "emscripten":
            raise DeviceError("LocalEngine runs inside a browser page (Pyodide). On CPython use RemoteEngine.")
        from pyodide.ffi import create_proxy, to_js
        import js

        started = time.perf_counter()
        report = progress or (lambda p: None)
        self.site_url = self.site_url or page_base_url()
        report(Progress("Loading Transformers.js"))
        early, plan = await claim_early_load()
        T = await import_transformers(self.site_url)
        engine_js = await import_engine_js(self.site_url)

        adapter = await webgpu_adapter_info() if self.requested_device != "wasm" else None
        self.device, self.notice = choose_device(self.requested_device, adapter is not None)
        build, device, note = ort_build_for(self.device, loaded_build())
        self._ort_build = build
        if device != self.device:
            self.device, self.notice = device, note
        self.dtype = self.requested_dtype or choose_dtype(self.device, self.dtypes)
        if self.device == "webgpu" and adapter and adapter["fallback"]:
            self.notice = "WebGPU runs on a software adapter here (no GPU): expect it to be slower than WebAssembly."

        total = sum(self.file_sizes.get(f, 0) for f in download_files(self.dtype)) or None
        loaded = {"bytes": 0, "last": 0.0}

        def on_bytes(url, count):
            loaded["bytes"] += count
            now = time.perf_counter()
            if now - loaded["last"] > 0.1:  # ~10 updates a second are plenty for a progress bar
                loaded["last"] = now
                report(Progress("Downloading model", loaded["bytes"], total, str(url)))

        failed = asyncio.get_event_loop().create_future()

        def on_failure(message):
            if not failed.done():
                failed.set_result(str(message))

        operators = set()
        self._proxies = [create_proxy(on_bytes), create_proxy(on_failure), create_proxy(lambda op: operators.add(str(op)))]
        files = to_js(self.files, dict_converter=js.Map.new)
        inputs = {"T": T, "base": self.site_url, "source": to_js(self.source, dict_converter=js.Object.fromEntries),
                  "ortBuild": build, "files": files, "onBytes": self._proxies[0], "onFailure": self._proxies[1],
                  "onOperator": self._proxies[2]}
        env = engine_js.configureEnv(to_js(inputs, dict_converter=js.Object.fromEntries))
        self._engine_js = engine_js
        self._fetch_failed = failed
        self._set_threads(env, js)
        if early is not None:
            wanted = {"base": self.site_url, "model": self.model_id, "device": self.device, "dtype": self.dtype,
                      "ortBuild": build, "threads": self.threads,
                      "sessionOptions": session_options(self.device, self.dtype, self.runtime_optimized)}
            if self.source.get("kind") != "site" or not early_load_matches(plan, wanted):
                early.discard()
                early = None
        try:
            if early is None or not await self._adopt_early(early, report):
                await self._load_weights(T, to_js, js, report)
        except ModelLoadError as err:  # a WebGPU session that fails still leaves WebAssembly
            if self.device != "webgpu":
                raise
            self.notice = f"WebGPU failed ({err.message}): running on WebAssembly (CPU) instead."
            self.device, self.dtype = "wasm", self.requested_dtype or choose_dtype("wasm", self.dtypes)
            await self._load_weights(T, to_js, js, report)
        finally:
            files.clear()  # what this load did not use (another device's weights): let it go
            self.files = {}
            report(Progress("Ready", 1, 1))
        self.operators = operators | self._early_operators
        if self.device == "wasm" and "GroupQueryAttention" in self.operators:
            self._add_notice(SLOW_ATTENTION_NOTICE)
        self.load_seconds = time.perf_counter() - started

    async def _adopt_early(self, early, report) -> bool:
        """Take the tokenizer and session made while Python started; False when that load failed."""
        report(Progress("Preparing the model (ONNX Runtime session)"))
        try:
            result = await early.load
        except Exception:  # noqa: BLE001 - a file or the session failed early: load here, with its message
            return False
        mark_loaded(self._ort_build)
        self._tokenizer, self._model = result.tokenizer, result.model
        self.started_early = True
        self._early_operators = {str(op) for op in result.operators}
        self._engine_js.yieldEachStep(self._model)
        self._prompt_js = self._engine_js.promptOps(transformers())
        self.forget_cache()
        return True

    def _add_notice(self, note: str) -> None:
        self.notice = f"{self.notice} {note}" if self.notice else note

    def _set_threads(self, env, js) -> None:
        """WebAssembly threads need SharedArrayBuffer, which only a cross-origin isolated page has."""
        isolated = bool(getattr(js, "crossOriginIsolated", False))
        if self.threads is not None:
            env.backends.onnx.wasm.numThreads = self.threads if isolated else 1
            if self.threads > 1 and not isolated:
                self._add_notice(f"{self.threads} threads were requested, but this page is not cross-origin "
                                 "isolated: running single-threaded.")

    async def _load_weights(self, T, to_js, js, report) -> None:
        options = {"device": self.device, "dtype": self.dtype,
                   "session_options": session_options(self.device, self.dtype, self.runtime_optimized)}
        if self.source.get("revision"):
            options["revision"] = self.source["revision"]
        options = to_js(options, dict_converter=js.Object.fromEntries)
        try:
            revision = to_js({"revision": self.source.get("revision", "main")}, dict_converter=js.Object.fromEntries)
            self._tokenizer = await self._unless_fetch_failed(T.AutoTokenizer.from_pretrained(self.model_id, revision))
            report(Progress("Preparing the model (ONNX Runtime session)"))
            mark_loaded(self._ort_build)  # the first session loads ONNX Runtime's module
            self._model = await self._unless_fetch_failed(T.AutoModelForCausalLM.from_pretrained(self.model_id, options))
            self._engine_js.yieldEachStep(self._model)
            self._prompt_js = self._engine_js.promptOps(T)
            self.forget_cache()
        except ModelLoadError:
            raise
        except Exception as err:
            raise explain_load_failure(self.model_id, _js_message(err)) from None

    async def _unless_fetch_failed(self, promise):
        """Await a Transformers.js load, but fail at once with the reason when one of its files failed."""
        task = asyncio.ensure_future(promise)
        await asyncio.wait({task, self._fetch_failed}, return_when=asyncio.FIRST_COMPLETED)
        if self._fetch_failed.done():
            task.cancel()
            raise ModelLoadError(f"The model {self.model_id} could not be loaded: {self._fetch_failed.result()}")
        return task.result()

    def count_tokens(self, messages: list[dict]) -> int:
        return len(self._prompt_ids(messages))

    def cancel(self) -> None:
        self._cancelled = True
        if self._stopper is not None:
            self._stopper.interrupt()

    def forget_cache(self) -> None:
        """Drop the key/value cache: the next turn processes its whole prompt."""
        self._epoch += 1
        if self._cache is not None:
            self._cache.dispose()  # frees GPU buffers; CPU tensors go with the last reference
        self._cache, self._cached = None, None

    async def _settle(self, known: list[int]) -> None:
        """Feed the finished reply's full runs while the user reads (see pagellm.prefill): the next turn then
        reads only its own tokens. Any failure just leaves the cache as it was."""
        from pyodide.ffi import to_js

        epoch, cache, cached = self._epoch, self._cache, self._cached
        chunks = settle_chunks(known, cached)
        if not chunks or cache is None or self._prompt_js.onGpu(cache):
            return
        self._settling_known = known
        try:
            extended = self._prompt_js.truncate(cache, cached.canonical)
            js_known = to_js(known)
            for start, end in chunks:
                extended = await self._prompt_js.feed(self._model, extended, js_known, start, end)
                if epoch != self._epoch:  # dropped, or a prompt that does not continue this reply came
                    return
        except Exception:  # noqa: BLE001 - an optimisation: the next turn reads these tokens itself
            return
        self._cache, self._cached = extended, CachedPrompt(list(known[:end]), end)

    async def _settled(self, ids: list[int]) -> None:
        """Let a running settle finish when the prompt continues that reply; stop it after its current run
        when the prompt is another conversation (its work would be thrown away)."""
        if self._settling is None:
            return
        if not self._settling.done() and self._cached is not None:
            if common_prefix(self._settling_known, ids) <= self._cached.canonical:
                self._epoch += 1
        await self._settling
        self._settling = None

    @property
    def cache_bytes(self) -> int:
        """What the kept key/value cache holds in memory (46 kB per token for SmolLM2-135M)."""
        return int(self._prompt_js.bytes(self._cache)) if self._cache is not None else 0

    def _prompt_ids(self, messages: list[dict], tools: list[Tool] | None = None) -> list[int]:
        from pyodide.ffi import to_js
        import js

        options = {"add_generation_prompt": True, "tokenize": True, "return_tensor": False, "return_dict": False}
        if tools:
            options["tools"] = [t.to_openai() for t in tools]
        # A cut reply to continue: the template would close it as a finished turn, so the model reads the
        # earlier messages with the assistant's opening, then the reply's own tokens, and carries on.
        partial = messages[-1]["content"] if messages and messages[-1]["role"] == "assistant" else None
        head = messages[:-1] if partial is not None else messages
        ids = self._tokenizer.apply_chat_template(to_js(head, dict_converter=js.Object.fromEntries),
                                                  to_js(options, dict_converter=js.Object.fromEntries))
        ids = [int(i) for i in ids.to_py()]
        if partial:
            more = self._tokenizer.encode(partial, to_js({"add_special_tokens": False},
                                                         dict_converter=js.Object.fromEntries))
            ids += [int(i) for i in more.to_py()]
        return ids

    def supports_tools(self) -> bool:
        """Whether this model's chat template can be given tools (the bundled SmolLM2's cannot)."""
        return template_supports_tools(getattr(self._tokenizer, "chat_template", None)
                                       if self._tokenizer is not None else None)

    def _cache_for(self, ids: list[int]):
        """The plan for this prompt, with a cache holding exactly the positions it keeps."""
        self._epoch += 1
        cached = self._cached if self.reuse_cache else None
        plan = plan_prompt(ids, cached)
        cache = None
        if self._cache is not None and plan.keep > 0:
            cache = self._prompt_js.truncate(self._cache, plan.keep)
        if cache is None:  # nothing to keep, or a GPU cache that cannot be cut: start afresh
            plan = plan_prompt(ids, None)
            cache = self._prompt_js.empty()
            self.forget_cache()
        self._cache, self._cached = None, None  # from here on, whatever happens, the old cache is gone
        return plan, cache

    async def stream(self, conversation: Conversation, settings: GenerationSettings, *,
                     tools: list[Tool] | None = None, max_steps: int = 8):
        """Stream the reply (see pagellm.engine). With ``tools`` (a model whose chat template takes them),
        a reply that writes ``<tool_call>`` blocks gets them run and is asked again with the results, as
        the remote engine does; such replies arrive whole per round, without the call markup."""
        if self._model is None:
            raise ModelLoadError("Load a model before sending a message.")
        if tools and not self.supports_tools():
            raise InputError(f"{self.name} cannot call tools: its chat template has no tool support.",
                             hint="Use a remote endpoint, or a Hub model whose template has one (e.g. Qwen2.5 Instruct).")
        self._cancelled = False
        clock = ReplyClock()
        fit = conversation.fit(self.count_tokens, self.context_length - settings.max_new_tokens, engine=self.name)
        yield ContextUse(fit.used, self.context_length, fit.left_out)
        if fit.citations:
            yield Citations(fit.citations)
        messages, outcome = list(fit.messages), {}
        for step in range(max_steps + 1):
            said = []
            async for event in self._turn(self._prompt_ids(messages, tools), settings, clock, outcome):
                if isinstance(event, Delta) and tools:
                    said.append(event.text)  # held back: it may be a tool call
                else:
                    yield event
            if not tools:
                break
            content, calls = calls_in_text("".join(said))
            if content:
                yield Delta(("\n\n" if step else "") + content)
            if not calls or outcome["reason"] == "cancelled":
                break
            if step == max_steps:
                raise ToolLoopError(f"The model was still calling tools after {max_steps} rounds: stopped.")
            messages.append({"role": "assistant", "content": content, "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.loads(c.arguments or "{}")}}
                for c in calls]})
            async for event in run_calls(tools, calls):
                yield event
                if isinstance(event, ToolResultEvent):
                    messages.append({"role": "tool", "tool_call_id": event.call.id, "name": event.call.name,
                                     "content": event.output})
        final = clock.final(outcome["reason"], prompt_tokens=outcome["prompt_tokens"])
        final.reused_tokens = outcome["reused_tokens"]
        if "drafted" in outcome:
            final.drafted_tokens, final.accepted_tokens = outcome["drafted"], outcome["accepted"]
            final.drafting_failed = outcome["drafting_failed"]
        yield final

    async def _turn(self, ids: list[int], settings: GenerationSettings, clock: ReplyClock, outcome: dict):
        """One generation over prompt ids: Reading and Delta records; `outcome` gets the finish reason, the
        prompt and reused token counts."""
        from pyodide.ffi import create_proxy, to_js
        import js

        T = transformers()
        await self._settled(ids)  # the last reply's runs, fed in the background, are in the cache first
        plan, cache = self._cache_for(ids)
        outcome.update(prompt_tokens=plan.total, reused_tokens=plan.keep)
        fed, js_ids = plan.keep, to_js(ids)
        try:
            for start, end in plan.chunks:
                if self._cancelled:
                    break
                yield Reading(fed, plan.total)
                cache = await self._prompt_js.feed(self._model, cache, js_ids, start, end)
                fed = end
        except Exception as err:
            raise _generation_error(err) from None
        if self._cancelled:  # stopped while reading: keep what was read, answer nothing
            self._cache, self._cached = cache, after_prompt(ids, fed)
            outcome["reason"] = "cancelled"
            return
        if plan.chunks:
            yield Reading(plan.total - 1, plan.total)
        if can_speculate(self, settings):
            try:
                async for event in speculative_reply(self, ids, cache, settings, clock, outcome):
                    yield event
            except Exception as err:
                raise _generation_error(err) from None
            return

        queue: asyncio.Queue = asyncio.Queue()
        stops = StopStrings(settings.stop)
        stopped_by_string = False

        def on_text(text):
            queue.put_nowait(str(text))

        def on_tokens(tokens):
            clock.token(int(tokens.length))

        text_proxy, token_proxy = create_proxy(on_text), create_proxy(on_tokens)
        streamer = T.TextStreamer.new(self._tokenizer, to_js(
            {"skip_prompt": True, "skip_special_tokens": True, "callback_function": text_proxy,
             "token_callback_function": token_proxy}, dict_converter=js.Object.fromEntries))
        self._stopper = T.InterruptableStoppingCriteria.new()
        if self._cancelled:
            self._stopper.interrupt()
        options = js.Object.assign(js.Object.new(), self._prompt_js.inputs(js_ids), to_js(
            {**generation_options(settings), "streamer": streamer, "stopping_criteria": self._stopper,
             "return_dict_in_generate": True}, dict_converter=js.Object.fromEntries))
        options.past_key_values = cache
        done = object()
        generation = asyncio.ensure_future(self._model.generate(options))
        generation.add_done_callback(lambda _: queue.put_nowait(done))
        try:
            while (item := await queue.get()) is not done:
                if stopped_by_string:
                    continue
                emit, hit = stops.feed(item)
                if emit:
                    yield Delta(emit)
                if hit:
                    stopped_by_string = True
                    self._stopper.interrupt()
            try:
                output = generation.result()
            except Exception as err:
                raise _generation_error(err) from None
            sequence = self._prompt_js.sequence(output).to_py()
            cached = after_reply(ids, sequence[len(ids):], int(self._prompt_js.length(output.past_key_values)))
            self._cache, self._cached = output.past_key_values, cached
            if self.reuse_cache:
                self._settling = asyncio.ensure_future(self._settle(sequence))
            tail = stops.flush() if not stopped_by_string else ""
            if tail:
                yield Delta(tail)
            if stopped_by_string:
                outcome["reason"] = "stop"
            elif self._cancelled:
                outcome["reason"] = "cancelled"
            else:
                outcome["reason"] = "length" if clock.tokens >= settings.max_new_tokens else "stop"
        finally:
            if not generation.done():
                self._stopper.interrupt()
            self._stopper = None
            text_proxy.destroy()
            token_proxy.destroy()


def _js_message(err: Exception) -> str:
    message = str(err)
    for prefix in ("Error: ", "JsException: "):
        message = message.replace(prefix, "")
    return message.strip() or type(err).__name__


def _generation_error(err: Exception) -> Exception:
    message = _js_message(err)
    if "memory" in message.lower():
        return GenerationError("The model ran out of memory while answering.", hint="Shorten the conversation or use a smaller model.")
    return GenerationError(f"The model failed while answering: {message}")
