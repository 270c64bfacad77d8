"""One run of one contender: open it, load, generate, and return plain numbers (seconds, tokens/s, ms).

Every browser run gets a fresh browser context (a first visit: empty HTTP cache, Cache Storage, OPFS,
IndexedDB, no service worker). A `cached` contender sends a short probe reply right at ready on the first
visit (open to first token, first visit), then opens the page again in the same context (a return visit)
and writes the full reply there: decode, time to first token and responsiveness come from that reply.
Other contenders write the full reply on their first visit. pagellm's service worker fetches and
verifies the whole app shell, and then the loaded model again, in the background of a first visit: the
driver waits for it to finish (`sw_settle_s`) before a full reply, so decode is measured on a quiet page.
Times are taken in the page with performance.now() and its marks, never from the driver's side,
except native llama.cpp which runs in this process.

Definitions (the same for every contender):
- boot: navigation to Python ready (pagellm's "pagellm:python-ready" mark; the bare page's own mark);
- load: model load alone (from the load request to ready), and ready: navigation to model ready;
- ttft: send to the first text the user can see (a streamer holds text back until a word ends);
- open_first_token: navigation to that first text (includes the driver's few ms between ready and send);
- decode: (tokens - 1) / (last token - first token), timed where the engine produces them (pagellm:
  its worker's ReplyClock; plain JS: the streamer's token callback; wllama and llama.cpp: per token);
- max_gap_ms: the longest gap of a 10 ms main-thread timer while generating (send to done), and
  max_longtask_ms: the longest "longtask" entry (>= 50 ms) in that window (0 if none).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlencode

from tests.guard import NetworkGuard as Guard
from webroot import served_bytes

PROMPT = "What is the capital of France?"
PROBE_TOKENS = 8          # the first visit's short reply of a `cached` contender
SETTLE_TIMEOUT_MS = 180_000
STATE_TIMEOUT_MS = 300_000

# Installed in every page before its own scripts: a 10 ms timer that records its late ticks, and a
# longtask observer. Workers do not get it: it measures the main thread only.
RESPONSIVENESS_JS = r"""
(() => {
  const gaps = [], tasks = [];
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last > 15) gaps.push([last, now - last]);
    last = now;
  }, 10);
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) tasks.push([e.startTime, e.duration]);
    }).observe({ type: "longtask", buffered: true });
  } catch (err) {}
  window.__benchResponsiveness = { gaps, tasks };
})();
"""

WINDOW_JS = r"""
([from, to]) => {
  const r = window.__benchResponsiveness;
  if (!r) return null;
  const within = (list) => list.filter(([start, length]) => start < to && start + length > from).map(([, d]) => d);
  // A timer tick lands at most 10 ms apart when the thread is free: the excess is the blocked time.
  const gaps = within(r.gaps);
  return { max_gap_ms: gaps.length ? Math.max(...gaps) : 10, max_longtask_ms: Math.max(0, ...within(r.tasks)) };
}
"""

MARKS_JS = r"""
(names) => Object.fromEntries(names.map((n) => {
  const all = performance.getEntriesByName(n);
  return [n, all.length ? all[all.length - 1].startTime : null];
}))
"""

FCP_JS = r"""
() => (performance.getEntriesByName("first-contentful-paint")[0] || {}).startTime ?? null
"""

# The last reply's stats as the pagellm worker reported them (kept in the page's IndexedDB store).
PAGELLM_STATS_JS = r"""
async () => {
  const id = localStorage.getItem("pagellm:current");
  if (!id) return null;
  const db = await new Promise((resolve, reject) => {
    const r = indexedDB.open("pagellm"); r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error);
  });
  try {
    const chat = await new Promise((resolve, reject) => {
      const r = db.transaction("conversations").objectStore("conversations").get(id);
      r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error);
    });
    const last = chat?.messages?.[chat.messages.length - 1];
    return last?.meta?.stats ? { ...last.meta.stats, text: last.content } : null;
  } finally { db.close(); }
}
"""


class RunError(Exception):
    """A run failed; the message says where (and what the page showed)."""


@dataclass(frozen=True)
class Contender:
    key: str                 # e.g. "pagellm-q8-t1"
    kind: str                # pagellm | tjs | tjs-main | wllama | native | pyodide
    label: str
    dtype: str | None = None
    threads: int = 1
    cached: bool = False     # also time a return visit in the same context
    extra: bool = False      # a secondary variant: fewer repetitions (--runs-extra)


def s(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000.0


def rate(tokens: int | None, first: float | None, last: float | None, unit: float = 1000.0) -> float | None:
    if not tokens or tokens < 2 or first is None or last is None or last <= first:
        return None
    return (tokens - 1) / ((last - first) / unit)


def new_context(browser, guard: Guard):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.route("**/*", guard)
    context.add_init_script(RESPONSIVENESS_JS)
    return context


def wait_state(page, states: tuple[str, ...] = ("ready",), timeout: float = STATE_TIMEOUT_MS) -> str:
    """Wait until <html data-state> is one of `states` or "error"; raise with the page's message on error."""
    wanted = list(states) + ["error"]
    page.wait_for_function("(w) => w.includes(document.documentElement.dataset.state)", arg=wanted,
                           timeout=timeout, polling=100)
    state = page.evaluate("() => document.documentElement.dataset.state")
    if state == "error":
        message = page.evaluate("""() => document.documentElement.dataset.error
            || document.querySelector('[data-testid=error]')?.innerText || 'unknown error'""")
        raise RunError(f"the page reported an error: {message.strip()}")
    return state


def generation_timeout_ms(tokens: int) -> float:
    return (120 + 3 * tokens) * 1000.0


# -- bare Pyodide --------------------------------------------------------------------------------

def run_pyodide(browser, base: str, c: Contender, guard: Guard, **_) -> dict:
    context = new_context(browser, guard)
    try:
        page = context.new_page()
        out = {}
        for visit in ("", "_cached") if c.cached else ("",):
            page.goto(base + "bench/pyodide.html")
            wait_state(page)
            marks = page.evaluate(MARKS_JS, ["bench:python-ready"])
            out["boot_s" + visit] = s(marks["bench:python-ready"])
            if not visit:
                out["fcp_s"] = s(page.evaluate(FCP_JS))
        return out
    finally:
        context.close()


# -- the pagellm page ----------------------------------------------------------------------------

def pagellm_url(base: str, model: str, c: Contender) -> str:
    query = {"model": model + (".q4" if c.dtype == "q4" else ""), "device": "wasm", "threads": c.threads}
    return f"{base}?{urlencode(query)}"


def set_field(page, selector: str, value) -> None:
    """Set a settings field as typing would (input and change events), whether or not its panel is open."""
    page.locator(selector).evaluate("""(field, value) => {
        field.value = value;
        field.dispatchEvent(new Event("input", { bubbles: true }));
        field.dispatchEvent(new Event("change", { bubbles: true }));
    }""", str(value))


def pagellm_send(page, text: str, timeout: float) -> float:
    """Type, press send; returns the page's performance.now() at the click. Waits for the reply."""
    page.get_by_test_id("prompt").fill(text)
    sent = page.evaluate("() => { const t = performance.now(); document.querySelector('[data-testid=send]').click(); return t; }")
    page.wait_for_function(
        """() => performance.getEntriesByName('pagellm:reply-done').length > 0
               || !document.querySelector('[data-testid=error]')?.hidden""", timeout=timeout, polling=200)
    if page.evaluate("() => !document.querySelector('[data-testid=error]')?.hidden"):
        raise RunError("the page showed an error: " + page.get_by_test_id("error").inner_text().strip())
    return sent


def pagellm_stats(page, wait_s: float = 3.0) -> dict | None:
    """The reply's stats from the worker (saved with the chat a moment after the reply ends)."""
    deadline = time.monotonic() + wait_s
    while True:
        stats = page.evaluate(PAGELLM_STATS_JS)
        if stats or time.monotonic() > deadline:
            return stats
        time.sleep(0.1)


def pagellm_generate(page, tokens: int) -> dict:
    """One greedy reply in a new chat, settings as every contender has them."""
    set_field(page, "[data-testid=max-tokens]", tokens)
    set_field(page, "[data-testid=temperature]", 0)
    set_field(page, "#repetition-penalty", 1)
    page.get_by_test_id("new-chat").click()
    sent = pagellm_send(page, PROMPT, generation_timeout_ms(tokens))
    marks = page.evaluate(MARKS_JS, ["pagellm:first-token", "pagellm:reply-done"])
    first, done = marks["pagellm:first-token"], marks["pagellm:reply-done"]
    stats_el = page.get_by_test_id("stats")
    count = int(stats_el.get_attribute("data-tokens") or 0)
    prompt_tokens = stats_el.get_attribute("data-prompt-tokens")
    engine = pagellm_stats(page) or {}
    window = page.evaluate(WINDOW_JS, [sent, done]) or {}
    return {
        "ttft_s": s(first - sent) if first is not None else None,
        "open_first_token_s": s(first),
        "decode_tps": engine.get("tokens_per_second") or rate(count, first, done),
        "decode_tps_page": rate(count, first, done),
        "engine_ttft_s": engine.get("time_to_first_token"),
        "tokens": count, "prompt_tokens": int(prompt_tokens) if prompt_tokens else None,
        "finish_reason": stats_el.get_attribute("data-finish-reason"),
        "text": (engine.get("text") or "")[:400],
        **window,
    }


def pagellm_settle(page, model: str, timeout: float = SETTLE_TIMEOUT_MS) -> float | None:
    """Wait until the service worker controls the page and keeps the loaded model (the background work
    of a first visit is done); seconds waited, or None when it did not settle within the timeout."""
    started = time.monotonic()
    try:
        page.wait_for_function(
            """(id) => {
                 const root = document.documentElement;
                 if (!("serviceWorker" in navigator)) return true;  // (registered once the page is quiet)
                 return root.dataset.offline === "ready"
                   && (id === null || !!document.querySelector(`#cached-models li[data-model="${id}"]`));
               }""", arg=model, timeout=timeout, polling=250)
    except Exception:  # noqa: BLE001 - a slow worker must not fail the run: the note says so
        return None
    return time.monotonic() - started


def pagellm_visit(page, url: str) -> dict:
    page.goto(url)
    wait_state(page)
    marks = page.evaluate(MARKS_JS, ["pagellm:python-ready", "pagellm:model-ready"])
    return {"boot_s": s(marks["pagellm:python-ready"]), "ready_s": s(marks["pagellm:model-ready"]),
            "load_s": s(marks["pagellm:model-ready"] - marks["pagellm:python-ready"]),
            "device_note": page.locator("#device-note").inner_text().strip(),
            "python_start": page.locator("html").get_attribute("data-python-start")}


REPLY_KEYS = ("ttft_s", "decode_tps", "decode_tps_page", "engine_ttft_s", "tokens", "prompt_tokens",
              "finish_reason", "text", "max_gap_ms", "max_longtask_ms")


def run_pagellm(browser, base: str, c: Contender, guard: Guard, *, model: str, tokens: int, **_) -> dict:
    context = new_context(browser, guard)
    try:
        page = context.new_page()
        url = pagellm_url(base, model, c)
        served_id = model + (".q4" if c.dtype == "q4" else "")
        before = served_bytes(base)
        out = pagellm_visit(page, url)
        if c.dtype and f"({c.dtype})" not in out["device_note"]:
            raise RunError(f"the page loaded {out['device_note']!r}, not {c.dtype}")
        out["fcp_s"] = s(page.evaluate(FCP_JS))
        out["isolated"] = page.evaluate("() => crossOriginIsolated")
        if c.cached:
            probe = pagellm_generate(page, PROBE_TOKENS)
            out["open_first_token_s"] = probe["open_first_token_s"]
            out["ttft_s_first_visit"] = probe["ttft_s"]
            out["sw_settle_s"] = pagellm_settle(page, served_id)
            out["first_visit_bytes"] = _since(base, before)
            again = pagellm_visit(page, url)
            out.update({f"{k}_cached": again[k] for k in ("boot_s", "ready_s", "load_s", "python_start")})
            reply = pagellm_generate(page, tokens)
            out["open_first_token_s_cached"] = reply["open_first_token_s"]
        else:
            out["sw_settle_s"] = pagellm_settle(page, served_id)
            out["first_visit_bytes"] = _since(base, before)
            reply = pagellm_generate(page, tokens)
        out.update({k: reply.get(k) for k in REPLY_KEYS})
        return out
    finally:
        context.close()


# -- plain-JS Transformers.js and wllama pages ---------------------------------------------------

def js_page_url(base: str, c: Contender, model: str) -> str:
    if c.kind == "wllama":
        return f"{base}bench/wllama.html?{urlencode({'threads': c.threads})}"
    query = {"model": model, "dtype": c.dtype or "q8", "threads": c.threads,
             "worker": "0" if c.kind == "tjs-main" else "1"}
    return f"{base}bench/transformers.html?{urlencode(query)}"


def js_visit(page, url: str, tokens: int) -> dict:
    page.goto(url)
    wait_state(page)
    load = page.evaluate("() => window.benchLoad")
    marks = page.evaluate(MARKS_JS, ["bench:model-ready"])
    result = page.evaluate("(a) => window.benchGenerate(a)", {"prompt": PROMPT, "maxTokens": tokens})
    window = page.evaluate(WINDOW_JS, [result["sent"], result["done"]]) or {}
    first = result.get("first_text")
    return {
        "load_s": s(load["ready"] - load["start"]), "ready_s": s(marks["bench:model-ready"]),
        "threads_used": load.get("threads"), "isolated": load.get("isolated"),
        "ttft_s": s(first - result["sent"]) if first is not None else None,
        "open_first_token_s": s(first),
        "decode_tps": rate(result["tokens"], result.get("engine_first"), result.get("engine_last")),
        "decode_tps_page": rate(result["tokens"], first, result["done"]),
        "tokens": result["tokens"], "prompt_tokens": result.get("prompt_tokens"),
        "engine_timings": result.get("timings"), "text": (result.get("text") or "")[:400],
        **window,
    }


def _since(base: str, before: int | None) -> int | None:
    """Bytes the site sent since `before` (a first visit's download, the service worker's included)."""
    now = served_bytes(base)
    return None if now is None or before is None else now - before


def run_js_page(browser, base: str, c: Contender, guard: Guard, *, model: str, tokens: int, **_) -> dict:
    context = new_context(browser, guard)
    try:
        page = context.new_page()
        url = js_page_url(base, c, model)
        before = served_bytes(base)
        first = js_visit(page, url, PROBE_TOKENS if c.cached else tokens)
        first["first_visit_bytes"] = _since(base, before)
        if not c.cached:
            return first
        reply = js_visit(page, url, tokens)
        out = {k: first[k] for k in ("load_s", "ready_s", "open_first_token_s", "threads_used", "isolated",
                                     "first_visit_bytes")}
        out["ttft_s_first_visit"] = first["ttft_s"]
        out.update({"load_s_cached": reply["load_s"], "ready_s_cached": reply["ready_s"],
                    "open_first_token_s_cached": reply["open_first_token_s"]})
        out.update({k: reply.get(k) for k in (*REPLY_KEYS, "decode_tps_page", "engine_timings")})
        return out
    finally:
        context.close()


# -- native llama.cpp (the ceiling) ---------------------------------------------------------------

def run_native(browser, base: str, c: Contender, guard: Guard, *, gguf, tokens: int, **_) -> dict:
    import numpy as np
    from llama_cpp import Llama, LogitsProcessorList

    started = time.perf_counter()
    llm = Llama(model_path=str(gguf), n_ctx=1024, n_threads=c.threads, n_threads_batch=c.threads,
                n_gpu_layers=0, verbose=False)
    load = time.perf_counter() - started
    # End-of-generation tokens get -inf, so it writes exactly `tokens` tokens like the other contenders.
    eog = sorted({llm.token_eos(), *(t for name in (b"<|im_end|>", b"<|endoftext|>", b"<|im_start|>")
                                    for t in llm.tokenize(name, add_bos=False, special=True)[:1])})
    stamps: list[float] = []

    def no_eos(input_ids, scores):
        stamps.append(time.perf_counter())
        scores[eog] = -np.inf
        return scores

    text, first_text = [], None
    sent = time.perf_counter()
    stream = llm.create_chat_completion(
        messages=[{"role": "user", "content": PROMPT}], max_tokens=tokens, temperature=0.0, top_k=1,
        repeat_penalty=1.0, stream=True, logits_processor=LogitsProcessorList([no_eos]))
    for chunk in stream:
        piece = chunk["choices"][0]["delta"].get("content")
        if piece:
            first_text = first_text or time.perf_counter()
            text.append(piece)
    done = time.perf_counter()
    generated = len(stamps)
    prompt_tokens = llm.n_tokens - generated + 1 if generated else None
    if hasattr(llm, "close"):
        llm.close()
    return {
        "load_s": load, "ttft_s": first_text - sent if first_text else None,
        "decode_tps": rate(generated, stamps[0] if stamps else None, stamps[-1] if stamps else None, unit=1.0),
        "decode_tps_page": rate(generated, first_text, done, unit=1.0),
        "tokens": generated, "prompt_tokens": prompt_tokens, "text": "".join(text)[:400],
    }


DRIVERS = {"pyodide": run_pyodide, "pagellm": run_pagellm, "tjs": run_js_page, "tjs-main": run_js_page,
           "wllama": run_js_page, "native": run_native}


# -- remote: the page and CPython against the loopback fake server -------------------------------

class RemotePage:
    """One pagellm page switched to a remote endpoint; each `run` streams one reply in a new chat."""

    def __init__(self, browser, base: str, guard: Guard, fake_base_v1: str, tokens: int):
        self.context = new_context(browser, guard)
        self.page = self.context.new_page()
        self.tokens = tokens
        self.page.goto(f"{base}?backend=remote")
        wait_state(self.page)
        pagellm_settle(self.page, None)  # the service worker's first-visit caching, before any timing
        self.page.locator("input[name=backend-choice][value=remote]").check(force=True)
        self.page.get_by_test_id("settings").click()  # the endpoint's fields are in the settings panel
        self.page.locator("#settings-panel details.advanced summary").click()
        self.page.get_by_test_id("provider").select_option("custom")
        self.page.get_by_test_id("remote-base-url").fill(fake_base_v1.replace("/v1", f"/tokens-{tokens}/v1"))
        self.page.get_by_test_id("remote-model").fill("fake-model")
        set_field(self.page, "[data-testid=max-tokens]", tokens * 2)

    def run(self) -> dict:
        page = self.page
        page.get_by_test_id("new-chat").click()
        page.evaluate("() => performance.clearMarks()")
        sent = pagellm_send(page, "go", generation_timeout_ms(self.tokens))
        marks = page.evaluate(MARKS_JS, ["pagellm:first-token", "pagellm:reply-done"])
        count = int(page.get_by_test_id("stats").get_attribute("data-tokens") or 0)
        engine = pagellm_stats(page) or {}
        first, done = marks["pagellm:first-token"], marks["pagellm:reply-done"]
        return {"tokens": count, "remote_tps": rate(count, first, done),
                "remote_tps_engine": engine.get("tokens_per_second"),
                "remote_wall_tps": count / ((done - sent) / 1000.0) if done and done > sent else None,
                **(page.evaluate(WINDOW_JS, [sent, done]) or {})}

    def close(self) -> None:
        self.context.close()


async def cpython_remote_run(fake_base_v1: str, tokens: int) -> dict:
    """bench/remote_throughput.py's client run (RemoteEngine over httpx) against the same server."""
    import remote_throughput as rt

    transport = rt.HttpxTransport()
    try:
        engine = rt.RemoteEngine(fake_base_v1.replace("/v1", f"/tokens-{tokens}/v1"), "fake-model",
                                 transport=transport)
        wall, decode, count = await rt.one_run(engine, tokens)
    finally:
        await transport.aclose()
    return {"tokens": count, "remote_tps": decode, "remote_wall_tps": wall}
