"""Speculative decoding in the page: greedy replies are the same with and without it, a reply that repeats
its input has its drafts accepted, and the stats line says how many."""

from __future__ import annotations

from tests.e2e.helpers import ChatPage
from tests.e2e.test_real_model import REAL_MODEL_BOOT

PASSAGE = ("The lighthouse keeper rose before dawn, climbed the iron stairs, trimmed the wick, polished the great "
           "lens and wrote the weather in a ledger that had been kept, without a missing day, for ninety years.")


def replies(chat: ChatPage, prompts: list[str], speculative: str, max_tokens: int) -> list[tuple[str, str, str]]:
    """Each prompt in a new chat: (reply, drafted tokens, accepted tokens)."""
    chat.by("speculative").select_option(speculative)
    out = []
    for prompt in prompts:
        chat.by("new-chat").click()
        text = chat.ask(prompt, max_tokens=max_tokens, temperature=0)
        stats = chat.by("stats")
        out.append((text, stats.get_attribute("data-drafted-tokens"), stats.get_attribute("data-accepted-tokens")))
    return out


def test_tiny_model_replies_are_the_same_with_and_without_speculation(chat):
    chat.open()
    prompts = ["Say hello.", "Repeat: one two three one two three one two three", "Count to ten."]
    on = replies(chat, prompts, "on", 48)
    off = replies(chat, prompts, "off", 48)
    assert [text for text, _, _ in on] == [text for text, _, _ in off]
    assert all(drafted == "" for _, drafted, _ in off), "speculation off drafts nothing"


def test_smollm2_repeats_a_passage_with_accepted_drafts_and_the_same_words(page, guard, console, site):
    chat = ChatPage(page, site)
    chat.open("model=smollm2-135m-instruct&device=wasm", wait_ready=False)
    chat.wait_state("ready", REAL_MODEL_BOOT)
    prompts = [f"Repeat this passage word for word:\n\n{PASSAGE}", "Write a short story about a cat.",
               "Fix the bug and give the whole function:\n\ndef mean(xs):\n    return sum(xs) / len(x)\n"]
    on = replies(chat, prompts, "on", 64)
    off = replies(chat, prompts, "off", 64)
    assert [text for text, _, _ in on] == [text for text, _, _ in off]
    (_, drafted, accepted), _, _ = on
    assert int(accepted) >= 20 and int(accepted) <= int(drafted), (drafted, accepted)
    chat.by("speculative").select_option("on")
    chat.by("new-chat").click()
    chat.ask(f"Repeat this passage word for word:\n\n{PASSAGE}", max_tokens=32, temperature=0)
    assert "drafted tokens accepted" in chat.by("stats").inner_text()


def test_smollm2_sampled_reply_drafts_too(page, guard, console, site):
    """With sampling, drafts are kept by the speculative-sampling rule: at a low temperature the model repeats
    the passage and keeps drafts (the rule itself is tested for its distribution in tests/js; replies are
    random here, so this only asks that some drafts are kept: a reply that happens not to copy the passage is
    asked for again, up to three times)."""
    chat = ChatPage(page, site)
    chat.open("model=smollm2-135m-instruct&device=wasm", wait_ready=False)
    chat.wait_state("ready", REAL_MODEL_BOOT)
    chat.by("speculative").select_option("on")
    seen = []
    for _ in range(3):
        text = chat.ask(f"Repeat this passage word for word:\n\n{PASSAGE}", max_tokens=48, temperature=0.1)
        assert text.strip()
        stats = chat.by("stats")
        drafted, accepted = int(stats.get_attribute("data-drafted-tokens")), int(stats.get_attribute("data-accepted-tokens"))
        assert accepted <= drafted, (drafted, accepted)
        seen.append((drafted, accepted))
        if accepted >= 1:
            break
    assert seen[-1][1] >= 1, seen
