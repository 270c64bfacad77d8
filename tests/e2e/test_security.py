"""Security the page can show: its content security policy, keys that go nowhere else, and hostile
endpoints that cannot run script, freeze the page or redirect the key."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import REPLY_TIMEOUT, use_remote
from tests.fake_openai import FakeOpenAI

KEY = "sk-pagellm-secret-0123456789"


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


def test_the_policy_blocks_and_reports_an_injected_inline_script(chat):
    chat.open()
    policy = chat.page.locator("meta[http-equiv=Content-Security-Policy]").get_attribute("content")
    script_src = policy.split("script-src")[1].split(";")[0]
    assert "'self'" in script_src and "'unsafe-inline'" not in script_src and "http" not in script_src
    chat.page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.body.append(script);
    }""")
    expect(chat.by("error")).to_contain_text("security policy blocked an inline script")
    assert chat.page.evaluate("window.injected") is None
    # The page's own scripts carry integrity hashes.
    assert chat.page.locator("script[src='./app.js'][integrity^='sha384-']").count() == 1


def test_a_key_never_reaches_console_errors_exports_storage_or_urls(chat, fake, console, tmp_path):
    chat.open()
    use_remote(chat, fake.base_url("status-401"), key=KEY)
    chat.send("Hello")
    expect(chat.by("error")).to_contain_text("401", timeout=REPLY_TIMEOUT)
    chat.by("remote-base-url").fill(fake.base_url())
    chat.by("remote-api-key").fill(KEY)
    assert chat.ask("Hi", max_tokens=None, temperature=None).strip()
    assert fake.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    with chat.page.expect_download() as download:
        chat.by("export-json").click()
    exported = tmp_path / "export.json"
    download.value.save_as(exported)
    stored = chat.page.evaluate("""async () => {
        const db = await new Promise((ok, fail) => { const r = indexedDB.open("pagellm"); r.onsuccess = () => ok(r.result); r.onerror = fail; });
        const all = await new Promise((ok) => { const r = db.transaction("conversations").objectStore("conversations").getAll(); r.onsuccess = () => ok(r.result); });
        return JSON.stringify(all) + JSON.stringify(Object.assign({}, localStorage));
    }""")
    for place, text in [("the export", exported.read_text()), ("the browser's storage", stored),
                        ("the console", "\n".join(console)), ("an error message", chat.error_text()),
                        ("the URL", chat.page.url)]:
        assert KEY not in text, f"the key leaked into {place}"
    # Ticking "remember" is what stores it, and only then.
    chat.open_settings()
    chat.page.locator("#remember-key").check()
    assert KEY in chat.page.evaluate("localStorage.getItem('pagellm:keys') || ''")
    chat.page.locator("#remember-key").uncheck()
    assert chat.page.evaluate("localStorage.getItem('pagellm:keys')") is None


def test_switching_provider_never_carries_the_key_over(chat, fake):
    chat.open()
    use_remote(chat, fake.base_url(), key=KEY)
    chat.by("provider").select_option("groq")
    expect(chat.by("remote-api-key")).to_have_value("")
    chat.by("provider").select_option("custom")
    chat.by("remote-base-url").fill(fake.base_url())
    expect(chat.by("remote-api-key")).to_have_value(KEY)


@pytest.mark.parametrize("behaviour,expected", [
    ("redirect", None),
    ("invalid-utf8", None),
    ("huge-json", None),
])
def test_hostile_endpoints_end_with_a_message_and_a_usable_page(chat, fake, behaviour, expected):
    chat.open()
    use_remote(chat, fake.base_url(behaviour), key=KEY)
    chat.send("Hello")
    chat.page.wait_for_function("() => document.documentElement.dataset.state !== 'generating'", timeout=REPLY_TIMEOUT)
    chat.wait_state("ready")
    # Either a clear message or a finished reply, and the page still answers typing at once.
    shown = chat.error_text() + chat.messages("assistant").last.inner_text() if chat.messages("assistant").count() else chat.error_text()
    assert shown.strip()
    assert KEY not in shown
    chat.by("prompt").fill("still responsive")
    expect(chat.by("prompt")).to_have_value("still responsive")
    # The key went to the configured server only, never to where the redirect pointed.
    assert all(r.headers.get("authorization") in (None, f"Bearer {KEY}") for r in fake.requests)


def test_an_endless_stream_can_be_stopped_and_never_freezes_the_page(chat, fake):
    chat.open()
    use_remote(chat, fake.base_url("endless"))
    chat.set_setting("max-tokens", 32768)
    chat.send("Never stop")
    chat.page.wait_for_function(
        "() => (document.querySelector('[data-streaming=true] .content')?.innerText || '').length > 200",
        timeout=REPLY_TIMEOUT)
    # The main thread keeps ticking while the stream pours in.
    gap = chat.page.evaluate("""() => new Promise((resolve) => {
        let last = performance.now(), worst = 0, n = 0;
        const timer = setInterval(() => { const now = performance.now(); worst = Math.max(worst, now - last); last = now;
            if (++n === 100) { clearInterval(timer); resolve(worst); } }, 10);
    })""")
    assert gap < 1000, f"the page froze for {gap:.0f} ms"
    chat.by("stop").click()
    chat.wait_state("ready")
    expect(chat.messages("assistant").last).to_have_attribute("data-status", "stopped")
