"""The static site: boots from dist/ alone, stays on localhost, works under a sub-path."""

from __future__ import annotations

import functools
import http.server
import os
import threading

import pytest

from playwright.sync_api import expect

from tests.e2e.helpers import BOOT_TIMEOUT, ChatPage


def test_boots_to_ready_with_the_test_contract(chat):
    chat.open()
    assert chat.by("backend").get_attribute("value") == "local"
    expect(chat.by("device")).to_have_text("wasm")
    assert float(chat.by("progress").get_attribute("value")) == 1.0
    for testid in ("prompt", "send", "stop", "new-chat", "messages", "local-model", "provider", "remote-base-url",
                   "remote-api-key", "remote-model", "system-prompt", "temperature", "max-tokens", "stats",
                   "hub-base-url", "hub-model-id", "load-model"):
        expect(chat.by(testid)).to_have_count(1)
    expect(chat.by("send")).to_be_enabled()
    expect(chat.by("stop")).to_be_disabled()


def test_ui_accepts_typing_before_python_is_ready(chat):
    chat.open(wait_ready=False)
    chat.by("prompt").fill("typed while booting")
    assert chat.state in ("booting", "loading-model", "ready")
    chat.wait_state("ready", BOOT_TIMEOUT)
    expect(chat.by("prompt")).to_have_value("typed while booting")


def test_works_from_a_plain_static_server_under_a_sub_path(page, guard, console, dist, tmp_path):
    # Copy dist/ (hard links) under /some/prefix/ and serve it with the standard library's plain
    # server: no COOP/COEP headers, no special MIME setup, as a static host such as GitHub Pages.
    target = tmp_path / "some" / "prefix"
    target.parent.mkdir(parents=True)
    os.system(f"cp -al '{dist}' '{target}'")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        chat = ChatPage(page, f"http://127.0.0.1:{server.server_address[1]}/some/prefix/").open()
        assert chat.ask("Hello", max_tokens=8)
    finally:
        server.shutdown()


@pytest.mark.browser_context_args(service_workers="block")  # page.route must see every request
def test_a_failed_boot_shows_the_reason_in_the_page(page, guard, console, site):
    # Break one runtime file: the page must say so in the page and move to data-state=error.
    page.route("**/pyodide/python_stdlib.zip", lambda route: route.fulfill(status=404, body="gone"))
    page.goto(f"{site}?model=tiny-random")
    expect(page.locator("html")).to_have_attribute("data-state", "error", timeout=BOOT_TIMEOUT)
    expect(page.get_by_test_id("error")).to_be_visible()
    assert page.get_by_test_id("error").inner_text().strip()
