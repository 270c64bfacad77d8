"""The bundled model itself, on WebAssembly: it answers a simple question correctly."""

from __future__ import annotations

from tests.e2e.helpers import ChatPage

REAL_MODEL_BOOT = 300_000  # ms: 137 MB of weights and an ONNX Runtime session on a busy 2-core machine


def test_smollm2_answers_the_capital_of_france(page, guard, console, site):
    chat = ChatPage(page, site)
    chat.open("model=smollm2-135m-instruct&device=wasm", wait_ready=False)
    chat.wait_state("ready", REAL_MODEL_BOOT)
    assert chat.by("device").inner_text() == "wasm"
    answer = chat.ask("What is the capital of France?", max_tokens=24, temperature=0)
    assert "Paris" in answer, answer


PASSAGE = ("The lighthouse keeper rose before dawn, climbed the iron stairs, trimmed the wick, polished the great "
           "lens and wrote the weather in a ledger that had been kept, without a missing day, for ninety years. ")


LONG_TASKS_JS = """() => { window.longTasks = [];
  new PerformanceObserver((list) => window.longTasks.push(...list.getEntries().map((e) => [e.startTime, e.duration])))
    .observe({ type: "longtask" }); }"""


def test_smollm2_reads_a_long_prompt_with_progress_and_stops_at_once(page, guard, console, site):
    chat = ChatPage(page, site)
    chat.open("model=smollm2-135m-instruct&device=wasm", wait_ready=False)
    chat.wait_state("ready", REAL_MODEL_BOOT)
    chat.set_setting("max-tokens", 16)
    page.evaluate(LONG_TASKS_JS)
    sent = page.evaluate("performance.now()")
    chat.send("Summarize this text.\n\n" + PASSAGE * 24)  # ~1,000 tokens
    reading = page.locator("[data-streaming=true] .reading")
    reading.wait_for(timeout=60_000)
    assert "Reading" in reading.inner_text() and "tokens" in reading.inner_text()
    page.wait_for_function("document.querySelector('[data-streaming=true]')?.dataset.reading?.startsWith('128/')",
                           timeout=60_000)
    # The prompt is read in the worker: the page's main thread stays free meanwhile.
    blocked = page.evaluate("(from) => window.longTasks.filter(([start]) => start > from + 200)", sent)
    assert not blocked, f"main-thread tasks over 50 ms while the prompt was read: {blocked}"
    started = page.evaluate("performance.now()")
    chat.by("stop").click()
    chat.wait_state("ready", 10_000)
    stopped_after = page.evaluate("performance.now()") - started
    assert stopped_after < 1500, f"Stop took {stopped_after:.0f} ms while reading the prompt"
    assert chat.by("stats").get_attribute("data-finish-reason") == "cancelled"
    # The conversation and the cache stay consistent: the next question is answered, reusing what was read.
    answer = chat.ask("What is the capital of France?", max_tokens=12, temperature=0)
    assert answer.strip()


def test_smollm2_gives_the_same_greedy_reply_with_the_cache_and_from_scratch(page, guard, console, site):
    chat = ChatPage(page, site)
    chat.open("model=smollm2-135m-instruct&device=wasm", wait_ready=False)
    chat.wait_state("ready", REAL_MODEL_BOOT)
    for question in ("Tell me about lighthouses.", "Who keeps them?", "Write one sentence about the sea."):
        reply = chat.ask(question, max_tokens=24, temperature=0)
    reused = int(chat.by("stats").get_attribute("data-reused-tokens"))
    assert reused >= 64
    chat.page.reload()
    chat.wait_state("ready", REAL_MODEL_BOOT)
    chat.set_setting("max-tokens", 24)
    chat.set_setting("temperature", 0)
    chat.messages("assistant").last.get_by_test_id("regenerate").click()
    chat.wait_state("ready")
    assert int(chat.by("stats").get_attribute("data-reused-tokens") or 0) == 0
    assert chat.messages("assistant").last.locator(".content").inner_text() == reply
