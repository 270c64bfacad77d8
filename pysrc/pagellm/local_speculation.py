"""The local engine's replies by speculative decoding (pagellm.speculative) in the page.

Python drives the runs; each run is one forward pass in JavaScript (engine-env.js `choose`), which returns
the token chosen after every fed token as Transformers.js's generate() would choose it (the same repetition
penalty, end-of-sequence rules, tie-breaking, temperature and top-k): a greedy reply is token for token the
one generate() gives, a sampled one has the same distribution.
"""

from __future__ import annotations

import asyncio

from .engine import Delta, ReplyClock
from .prefill import after_reply
from .speculative import Drafter, speculate
from .stops import StopStrings

__all__ = ["can_speculate", "speculative_reply"]


def can_speculate(engine, settings) -> bool:
    """Asked for, on WebAssembly, with a graph whose short runs are exact (models/rows.py)."""
    return settings.speculative and engine.device == "wasm" and "ExactRows" in engine.operators


def _rules(model, settings, prompt_length: int) -> dict:
    """What generate() would take from the model's generation_config.json besides the settings: the
    end-of-sequence ids and how long a reply must be before one may end it."""
    config = model.generation_config
    eos = config.eos_token_id
    eos = [] if eos is None else [int(eos)] if isinstance(eos, (int, float)) else [int(e) for e in eos]
    sample = None if settings.greedy else {"temperature": settings.temperature, "topK": settings.top_k}
    return {"penalty": settings.repetition_penalty, "eos": eos, "promptLength": prompt_length,
            "minLength": int(getattr(config, "min_length", None) or 0),
            "minNewTokens": int(getattr(config, "min_new_tokens", None) or 0), "sample": sample}


async def speculative_reply(engine, ids: list[int], cache, settings, clock: ReplyClock, outcome: dict):
    """Delta events of a reply after prompt `ids` (`cache` holds all of them but the last); sets
    the engine's cache and `outcome` as the generate() path does, plus drafted and accepted counts."""
    from pyodide.ffi import to_js
    import js

    ops, model, tokenizer = engine._prompt_js, engine._model, engine._tokenizer
    held = {"cache": cache}
    rules = _rules(model, settings, len(ids))
    js_rules = to_js(rules, dict_converter=js.Object.fromEntries)  # None -> undefined: greedy
    queue: asyncio.Queue = asyncio.Queue()
    stops = StopStrings(settings.stop)
    # The text is decoded from the tokens since the last line break (as Transformers.js's TextStreamer does),
    # so each run decodes a line, not the whole reply.
    state = {"line": [], "shown": 0, "stopped_by_string": False}

    async def choose(known: list[int], start: int, end: int) -> list[int]:
        result = await ops.choose(model, held["cache"], to_js(known), start, end, js_rules)
        held["cache"] = result.cache
        return [int(c) for c in result.choices]

    def keep(length: int) -> None:
        held["cache"] = ops.truncate(held["cache"], length)

    def on_tokens(new: list[int]) -> bool:
        clock.token(len(new))
        state["line"] += new
        text = str(tokenizer.decode(to_js(state["line"]), to_js({"skip_special_tokens": True})))
        if text.endswith("\ufffd"):  # a character whose bytes are not all there yet
            return not engine._cancelled
        emit, hit = stops.feed(text[state["shown"]:])
        state["shown"] = len(text)
        if text.endswith("\n"):
            state["line"], state["shown"] = [], 0
        if emit:
            queue.put_nowait(emit)
        if hit:
            state["stopped_by_string"] = True
        return not (hit or engine._cancelled)

    done = object()
    drafter = Drafter()
    task = asyncio.ensure_future(speculate(choose, keep, ids, max_new_tokens=settings.max_new_tokens,
                                           eos=set(rules["eos"]), limit=engine.context_length,
                                           on_tokens=on_tokens, drafter=drafter))
    task.add_done_callback(lambda _: queue.put_nowait(done))
    try:
        while (item := await queue.get()) is not done:
            yield Delta(item)
        result = task.result()
    finally:
        if not task.done():
            engine._cancelled = True
            await task
    sequence = list(ids) + result.tokens
    engine._cache = held["cache"]
    engine._cached = after_reply(ids, result.tokens, int(ops.length(held["cache"])))
    if engine.reuse_cache:
        engine._settling = asyncio.ensure_future(engine._settle(sequence))
    tail = stops.flush() if not state["stopped_by_string"] else ""
    if tail:
        yield Delta(tail)
    if state["stopped_by_string"]:
        outcome["reason"] = "stop"
    elif engine._cancelled:
        outcome["reason"] = "cancelled"
    else:
        outcome["reason"] = "length" if len(result.tokens) >= settings.max_new_tokens else "stop"
    outcome.update(drafted=result.drafted, accepted=result.accepted, drafting_failed=result.failure)
