"""The local engine: a model running in this page through Transformers.js (Pyodide only).

Every file comes from the site itself: Transformers.js is told never to look on a hub or CDN, and
its fetches are resolved against the site's base URL (which also makes a sub-path deploy work).

    engine = LocalEngine("smollm2-135m-instruct", site_url="https://me.github.io/pagellm/")
    await engine.load(progress=lambda p: print(p.stage, p.fraction))
    async for event in engine.stream(conversation, GenerationSettings(temperature=0)):
        ...

Loading is `local_load.py`; the choices that need no browser (device, generation options, what a load
failure means) are `local_choices.py`, unit-tested on CPython; speculative replies are `local_speculation.py`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from .engine import Citations, ContextUse, Delta, ProgressCallback, Reading, ReplyClock
from .errors import DeviceError, GenerationError, InputError, ModelLoadError, SettingsError, ToolLoopError
from .local_choices import DEVICES, generation_options, js_message
from .local_load import load_model
from .messages import Conversation
from .page_runtime import transformers
from .prefill import CachedPrompt, after_prompt, after_reply, common_prefix, plan_prompt, settle_chunks
from .local_speculation import can_speculate, speculative_reply
from .site import page_base_url
from .settings import GenerationSettings
from .stops import StopStrings
from .tools import Tool, ToolResultEvent, calls_in_text, run_calls, template_supports_tools


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
        started = time.perf_counter()
        self.site_url = self.site_url or page_base_url()
        try:
            loaded = await load_model(self, progress or (lambda p: None))
        finally:
            self.files = {}  # handed to Transformers.js (or not needed): let them go
        self.forget_cache()
        self._tokenizer, self._model = loaded.tokenizer, loaded.model
        self._engine_js, self._prompt_js, self._keepalive = loaded.engine_js, loaded.prompt_js, loaded.keepalive
        self.device, self.dtype, self.notice = loaded.device, loaded.dtype, loaded.notice
        self.operators, self.started_early = loaded.operators, loaded.started_early
        self.load_seconds = time.perf_counter() - started

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


def _generation_error(err: Exception) -> Exception:
    message = js_message(err)
    if "memory" in message.lower():
        return GenerationError("The model ran out of memory while answering.", hint="Shorten the conversation or use a smaller model.")
    return GenerationError(f"The model failed while answering: {message}")
