"""The WebGPU path, on Chromium's software adapter (--enable-unsafe-webgpu grants SwiftShader)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import CHROMIUM_ARGS, NetworkGuard
from tests.e2e.helpers import ChatPage


@pytest.fixture
def webgpu_page(browser_type, chromium_path):
    browser = browser_type.launch(executable_path=chromium_path, args=[*CHROMIUM_ARGS, "--enable-unsafe-webgpu"])
    context = browser.new_context()
    guard = NetworkGuard()
    context.route("**/*", guard)
    page = context.new_page()
    logs = []
    page.on("worker", lambda worker: worker.on("console", lambda msg: logs.append(msg.text)))
    yield page
    print("\n".join(logs[-40:]))
    browser.close()
    assert not guard.outside, f"the page tried to reach beyond localhost: {guard.outside}"


def test_webgpu_adapter_is_detected_and_used(webgpu_page, site):
    chat = ChatPage(webgpu_page, site).open("model=tiny-random&device=auto")
    expect(chat.by("device")).to_have_text("webgpu")
    assert chat.page.locator("html").get_attribute("data-webgpu") == "available"
    # The software adapter is named as such, so nobody mistakes it for a GPU.
    expect(chat.page.locator("#device-note")).to_contain_text("software adapter")
    text = chat.ask("Hello", max_tokens=6)
    assert text.strip()
    assert int(chat.by("stats").get_attribute("data-tokens")) == 6


def test_webgpu_after_webassembly_asks_for_a_reload_then_works(webgpu_page, site):
    ort_files = []
    webgpu_page.context.on("request", lambda r: ort_files.append(r.url.rsplit("/", 1)[-1])
                           if "/vendor/ort/" in r.url and r.service_worker is None else None)  # not the SW's precache
    chat = ChatPage(webgpu_page, site).open("model=tiny-random&device=wasm")
    expect(chat.by("device")).to_have_text("wasm")
    assert "ort-wasm-simd-threaded.wasm" in ort_files and not any("asyncify" in f for f in ort_files)
    # The worker runs ONNX Runtime's fast WebAssembly-only build now: WebGPU needs a fresh page.
    chat.open_settings()
    chat.page.select_option("#device-choice", "webgpu")
    expect(chat.page.locator("#device-note")).to_contain_text("reload the page to use WebGPU")
    expect(chat.by("device")).to_have_text("wasm")
    assert chat.ask("Hello", max_tokens=4).strip()
    chat.page.goto(site + "?model=tiny-random")  # the saved choice is WebGPU now
    chat.wait_state("ready")
    expect(chat.by("device")).to_have_text("webgpu")
    assert any("asyncify" in f for f in ort_files)
