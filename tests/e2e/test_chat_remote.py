"""The remote switch from the page, against a scripted OpenAI-compatible server on loopback."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import REPLY_TIMEOUT, use_remote
from tests.fake_openai import NORMAL_TEXT, FakeOpenAI


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def fake_nocors():
    with FakeOpenAI(cors=False) as server:
        yield server


def remote_chat(chat, base_url, **options):
    chat.open()
    use_remote(chat, base_url, **options)
    return chat


def test_streams_from_a_remote_server_and_lists_models(chat, fake):
    remote_chat(chat, fake.base_url())
    chat.page.get_by_test_id("test-connection").click()
    expect(chat.page.locator("#connection-status")).to_contain_text("Connected", timeout=REPLY_TIMEOUT)
    assert chat.page.locator("#remote-model-list option[value=fake-model]").count() == 1
    text = chat.ask("Hi", max_tokens=None, temperature=None)
    assert text.strip() == NORMAL_TEXT
    request = fake.requests[-1]
    assert request.body["stream"] is True and request.body["messages"][-1] == {"role": "user", "content": "Hi"}


def test_stop_cancels_a_remote_reply_and_keeps_it(chat, fake):
    remote_chat(chat, fake.base_url("slow"))
    chat.send("Go slowly")
    chat.page.wait_for_function(
        "() => (document.querySelector('[data-streaming=true] .content')?.innerText || '').split(/\\s+/).length > 3",
        timeout=REPLY_TIMEOUT)
    chat.by("stop").click()
    chat.wait_state("ready")
    reply = chat.messages("assistant").last
    expect(reply).to_have_attribute("data-status", "stopped")
    assert 0 < len(reply.locator(".content").inner_text().split()) < 40
    assert int(chat.by("stats").get_attribute("data-updates")) >= 2, "the reply did not stream"


@pytest.mark.parametrize("behaviour,expected", [
    ("status-401", "401"),
    ("status-404", "404"),
    ("status-429", "7 s"),
    ("status-500", "500"),
    ("bad-json", "not JSON"),
    ("error-mid", "error"),
])
def test_server_errors_give_specific_messages_and_keep_the_conversation(chat, fake, behaviour, expected):
    remote_chat(chat, fake.base_url(behaviour), key="sk-test-123")
    chat.send("Hello")
    expect(chat.by("error")).to_be_visible(timeout=REPLY_TIMEOUT)
    expect(chat.by("error")).to_contain_text(expected)
    assert "sk-test-123" not in chat.error_text()
    expect(chat.messages("user")).to_have_count(1)
    expect(chat.messages("error")).to_have_count(1)
    chat.wait_state("ready")
    # The conversation goes on once the endpoint is fixed.
    chat.by("remote-base-url").fill(fake.base_url())
    assert chat.ask("Again", max_tokens=None, temperature=None).strip() == NORMAL_TEXT


def test_cors_refusal_names_the_fix(chat, fake_nocors):
    remote_chat(chat, fake_nocors.base_url(), provider="ollama")  # Ollama on another port: the URL stays
    chat.send("Hello")
    expect(chat.by("error")).to_contain_text("OLLAMA_ORIGINS", timeout=REPLY_TIMEOUT)


def test_unreachable_host_gives_the_network_message(chat):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    remote_chat(chat, f"http://127.0.0.1:{port}/v1")
    chat.send("Hello")
    expect(chat.by("error")).to_contain_text(f"127.0.0.1:{port}", timeout=REPLY_TIMEOUT)
    expect(chat.messages("user")).to_have_count(1)


def test_bad_url_is_refused_before_any_request(chat, fake):
    remote_chat(chat, "localhost:11434/v1")
    chat.send("Hello")
    expect(chat.by("error")).to_contain_text("http", timeout=REPLY_TIMEOUT)
    expect(chat.by("prompt")).to_have_value("Hello")


def test_a_key_goes_only_to_the_url_it_was_entered_for(chat, fake):
    other = FakeOpenAI().start()
    try:
        remote_chat(chat, fake.base_url(), key="sk-secret-A")
        chat.ask("one", max_tokens=None, temperature=None)
        assert fake.requests[-1].headers.get("authorization") == "Bearer sk-secret-A"
        # Another URL: the key field empties and nothing is sent there.
        chat.by("remote-base-url").fill(other.base_url())
        expect(chat.by("remote-api-key")).to_have_value("")
        chat.ask("two", max_tokens=None, temperature=None)
        assert "authorization" not in other.requests[-1].headers
        # Back to the first URL: its key is shown again.
        chat.by("remote-base-url").fill(fake.base_url())
        expect(chat.by("remote-api-key")).to_have_value("sk-secret-A")
        # Not remembered unless asked: nothing in storage holds it.
        storage = chat.page.evaluate("JSON.stringify(Object.assign({}, localStorage))")
        assert "sk-secret-A" not in storage
    finally:
        other.stop()
