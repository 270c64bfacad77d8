"""The local engine's replies through Transformers.js's generate(), one token per step, in the page.

generate() streams text through a TextStreamer; Stop and a hit stop string interrupt it through its stopping
criteria. The speculative path (local_speculation.py) is the other way a reply is decoded.
"""

from __future__ import annotations

import asyncio

from .engine import Delta, ReplyClock
from .page_runtime import transformers
from .stops import StopStrings

__all__ = ["generate_reply", "generation_options"]


def generation_options(settings) -> dict:
    """Transformers.js `generate()` options for these settings."""
    options = {"max_new_tokens": settings.max_new_tokens, "repetition_penalty": settings.repetition_penalty}
    if settings.greedy:
        options["do_sample"] = False
    else:
        options.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k)
    return options


async def generate_reply(engine, ids: list[int], js_ids, cache, settings, clock: ReplyClock, outcome: dict):
    """Delta events of a reply after prompt `ids` (`cache` holds all of them but the last); keeps the
    engine's cache and sets `outcome["reason"]`."""
    from pyodide.ffi import create_proxy, to_js
    import js

    T = transformers()
    queue: asyncio.Queue = asyncio.Queue()
    stops = StopStrings(settings.stop)

    def on_text(text):
        queue.put_nowait(str(text))

    def on_tokens(tokens):
        clock.token(int(tokens.length))

    text_proxy, token_proxy = create_proxy(on_text), create_proxy(on_tokens)
    streamer = T.TextStreamer.new(engine._tokenizer, to_js(
        {"skip_prompt": True, "skip_special_tokens": True, "callback_function": text_proxy,
         "token_callback_function": token_proxy}, dict_converter=js.Object.fromEntries))
    engine._stopper = T.InterruptableStoppingCriteria.new()
    if engine._cancelled:
        engine._stopper.interrupt()
    options = js.Object.assign(js.Object.new(), engine._prompt_js.inputs(js_ids), to_js(
        {**generation_options(settings), "streamer": streamer, "stopping_criteria": engine._stopper,
         "return_dict_in_generate": True}, dict_converter=js.Object.fromEntries))
    options.past_key_values = cache
    done = object()
    generation = asyncio.ensure_future(engine._model.generate(options))
    generation.add_done_callback(lambda _: queue.put_nowait(done))
    try:
        while (item := await queue.get()) is not done:
            if stops.hit:
                continue
            emit, hit = stops.feed(item)
            if emit:
                yield Delta(emit)
            if hit:
                engine._stopper.interrupt()
        output = generation.result()
        sequence = engine._prompt_js.sequence(output).to_py()
        engine._keep_reply(ids, sequence[len(ids):], output.past_key_values)
        tail, outcome["reason"] = stops.end(cancelled=engine._cancelled,
                                            length_reached=clock.tokens >= settings.max_new_tokens)
        if tail:
            yield Delta(tail)
    finally:
        if not generation.done():
            engine._stopper.interrupt()
        engine._stopper = None
        text_proxy.destroy()
        token_proxy.destroy()
