"""Long chats with the local engine (tiny test model): the key/value cache survives between turns without
changing a single reply, the context meter, old turns left out with a notice, and a new chat from a summary."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from pagellm.prefill import CHUNK

from tests.e2e.helpers import BOOT_TIMEOUT

# The tiny model's tokenizer has 1,024 tokens: a made-up word costs several.
WORDS = "zebra quill marmot fjord lantern cobalt tundra wicker saffron nimbus".split()


def long_text(words: int, seed: int = 0) -> str:
    return " ".join(WORDS[(seed + i * 7) % len(WORDS)] for i in range(words))


def stat(chat, name: str) -> int:
    return int(chat.by("stats").get_attribute(f"data-{name}") or 0)


def test_the_cache_is_reused_between_turns_and_replies_are_what_a_fresh_start_gives(chat):
    chat.open()
    replies, previous = [], None
    for question in ["Tell me about lanterns.", long_text(80), long_text(30, seed=3), "And the fjord?"]:
        replies.append(chat.ask(question, max_tokens=24))
        prompt, reused = stat(chat, "prompt-tokens"), stat(chat, "reused-tokens")
        # At least everything up to the last chunk boundary of the previous prompt comes from the cache (more
        # when the finished reply's runs were settled in the background), in whole runs.
        least = 0 if previous is None else (previous - 1) // CHUNK * CHUNK
        assert least <= reused < prompt and reused % CHUNK == 0, (previous, prompt, reused)
        previous = prompt
    expect(chat.by("stats")).to_contain_text("prompt tokens reused")
    # A fresh page has no cache: regenerating the last reply computes every token again, and greedy
    # decoding must give the very reply the cache gave.
    chat.page.reload()
    chat.wait_state("ready", BOOT_TIMEOUT)
    chat.set_setting("max-tokens", 24)
    chat.set_setting("temperature", 0)
    chat.messages("assistant").last.get_by_test_id("regenerate").click()
    chat.wait_state("ready")
    assert stat(chat, "reused-tokens") == 0
    assert chat.messages("assistant").last.locator(".content").inner_text() == replies[-1]
    # Regenerating again in the same page reuses the cache and still gives the same reply.
    chat.messages("assistant").last.get_by_test_id("regenerate").click()
    chat.wait_state("ready")
    assert stat(chat, "reused-tokens") > 0
    assert chat.messages("assistant").last.locator(".content").inner_text() == replies[-1]


def test_an_edited_history_is_not_served_from_the_cache(chat):
    chat.open()
    chat.ask(long_text(50, seed=1), max_tokens=8)
    chat.ask("Second question", max_tokens=8)
    assert stat(chat, "reused-tokens") > 0
    # Another system prompt changes the first tokens: nothing of the old cache may be used.
    chat.by("system-prompt").fill("You are a pirate.")
    chat.by("system-prompt").dispatch_event("change")
    chat.ask("Third question", max_tokens=8)
    assert stat(chat, "reused-tokens") == 0


def test_the_context_meter_warns_and_names_what_was_left_out(chat):
    chat.open()
    chat.ask("Hello", max_tokens=8)
    meter = chat.by("context-meter")
    used, limit = int(meter.get_attribute("data-used")), int(meter.get_attribute("data-limit"))
    assert limit == 2048 and 0 < used < 200
    expect(chat.by("context-notice")).to_be_hidden()
    # Each long turn takes ~500 tokens; with 900 kept for the reply, the oldest turns no longer fit.
    for seed in range(3):
        chat.ask(long_text(200, seed=seed), max_tokens=900)
    expect(chat.by("context-notice")).to_be_visible()
    expect(chat.by("context-notice")).to_contain_text("oldest messages no longer fit")
    assert int(meter.get_attribute("data-used")) <= 2048
    expect(chat.by("summary-chat")).to_be_visible()
    # A message larger than the whole context is refused with the numbers, and kept.
    chat.ask(long_text(1500), max_tokens=8)
    expect(chat.messages("error").last).to_contain_text("context holds")
    expect(chat.messages("user").last).to_contain_text("zebra")
    # The chat carries on in a new one, from a summary the model writes.
    chat.by("summary-chat").click()
    chat.wait_state("ready")
    expect(chat.messages()).to_have_count(0)
    expect(chat.by("system-prompt")).to_have_value(re.compile("Summary of an earlier chat:\n.+", re.DOTALL))
    assert chat.ask("Go on", max_tokens=4)
