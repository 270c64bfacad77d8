"""The page against a real OpenAI-compatible server: llama.cpp's (llama-cpp-python) on loopback."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.helpers import REPLY_TIMEOUT, use_remote
from tests.llama_server import ALIAS, LIVE_KEY


def test_llamacpp_preset_lists_models_streams_and_stops(chat, llama_server):
    chat.open()
    use_remote(chat, llama_server.base_url, model="", provider="llamacpp")
    chat.by("remote-base-url").fill(llama_server.base_url)
    chat.page.get_by_test_id("test-connection").click()
    expect(chat.page.locator("#connection-status")).to_contain_text("Connected", timeout=REPLY_TIMEOUT)
    expect(chat.by("remote-model")).to_have_value(ALIAS)
    answer = chat.ask("What is the capital of France? Answer in one word.", max_tokens=24, temperature=0)
    assert "paris" in answer.lower()
    # Stop a long reply part-way: the partial reply is kept and marked.
    chat.set_setting("max-tokens", 400)
    chat.send("Write a long story about a dragon.")
    chat.page.wait_for_function(
        "() => (document.querySelector('[data-streaming=true] .content')?.innerText || '').split(/\\s+/).length > 5",
        timeout=REPLY_TIMEOUT)
    chat.by("stop").click()
    chat.wait_state("ready")
    expect(chat.messages("assistant").last).to_have_attribute("data-status", "stopped")


def test_wrong_key_gives_the_401_message(chat, llama_server_with_key):
    chat.open()
    use_remote(chat, llama_server_with_key.base_url, model=ALIAS, provider="llamacpp", key="sk-wrong-key")
    chat.by("remote-base-url").fill(llama_server_with_key.base_url)
    chat.by("remote-api-key").fill("sk-wrong-key")
    chat.send("Hello")
    expect(chat.by("error")).to_contain_text("401", timeout=REPLY_TIMEOUT)
    assert "sk-wrong-key" not in chat.error_text()
    chat.by("remote-api-key").fill(LIVE_KEY)
    assert chat.ask("Say hi", max_tokens=8, temperature=0).strip()


def test_server_killed_mid_reply_keeps_the_partial_answer_and_a_retry_works(chat, own_llama_server):
    chat.open()
    use_remote(chat, own_llama_server.base_url, model=ALIAS, provider="llamacpp")
    chat.by("remote-base-url").fill(own_llama_server.base_url)
    chat.set_setting("max-tokens", 400)
    chat.set_setting("temperature", 0)
    chat.send("Write a long story about a dragon.")
    chat.page.wait_for_function(
        "() => (document.querySelector('[data-streaming=true] .content')?.innerText || '').split(/\\s+/).length > 5",
        timeout=REPLY_TIMEOUT)
    own_llama_server.kill()
    expect(chat.by("error")).to_be_visible(timeout=REPLY_TIMEOUT)
    reply = chat.messages("assistant").last
    expect(reply).to_have_attribute("data-status", "error")
    assert len(reply.locator(".content").inner_text().split()) > 5
    expect(chat.messages("error")).to_have_count(1)
    chat.wait_state("ready")
    own_llama_server.start()
    chat.messages("assistant").last.get_by_test_id("regenerate").click()
    chat.wait_state("generating", 10_000) if chat.state != "ready" else None
    chat.wait_state("ready")
    expect(chat.messages("assistant").last).to_have_attribute("data-status", "complete")
