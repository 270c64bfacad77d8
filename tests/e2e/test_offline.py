"""Offline use, cache integrity and cross-origin isolation through the service worker."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading

from playwright.sync_api import expect

from tests.conftest import serve
from tests.e2e.helpers import BOOT_TIMEOUT, ChatPage

MODEL_FILE = "models/tiny-random/onnx/model_quantized.onnx"


def plain_server(root):
    """The standard library's static server: no COOP/COEP, like GitHub Pages."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def wait_until_model_is_kept(chat: ChatPage, model="tiny-random"):
    expect(chat.page.locator("html")).to_have_attribute("data-offline", "ready", timeout=BOOT_TIMEOUT)
    expect(chat.by("cached-models").locator(f"li[data-model={model}]")).to_have_count(1, timeout=BOOT_TIMEOUT)


def test_a_first_visit_downloads_the_weights_and_the_workers_files_once(page, guard, console, dist):
    requested = []
    server, url = serve(dist, on_request=requested.append)
    try:
        chat = ChatPage(page, url).open()
        wait_until_model_is_kept(chat)
        # The worker downloaded them while Python started; the service worker kept the page's copies.
        snapshot = next(path for path in requested if path.startswith("/python/snapshot-"))
        once = ("/" + MODEL_FILE, snapshot, "/pyodide/pyodide.asm.wasm", "/pyodide/python_stdlib.zip",
                "/python/site.zip", "/vendor/ort/ort-wasm-simd-threaded.wasm")
        assert {path: requested.count(path) for path in once} == dict.fromkeys(once, 1)
        page.reload()
        chat.wait_state("ready", BOOT_TIMEOUT)
        assert chat.ask("Hello again", max_tokens=4).strip()
        assert {path: requested.count(path) for path in once} == dict.fromkeys(once, 1)
    finally:
        server.shutdown()


def test_after_one_visit_the_page_reloads_and_chats_offline(chat):
    chat.open()
    wait_until_model_is_kept(chat)
    chat.page.context.set_offline(True)
    try:
        chat.page.reload()
        chat.wait_state("ready", BOOT_TIMEOUT)
        assert chat.ask("Are you offline?", max_tokens=6).strip()
    finally:
        chat.page.context.set_offline(False)


def test_a_return_visit_reads_the_kept_weights_straight_from_the_cache(chat):
    chat.open()
    wait_until_model_is_kept(chat)
    requested = []
    chat.page.on("request", lambda r: requested.append(r.url) if r.url.endswith(MODEL_FILE) else None)
    chat.page.reload()
    chat.wait_state("ready", BOOT_TIMEOUT)
    assert chat.ask("Hello again", max_tokens=4).strip()
    # The page hands the worker a Blob of the cached entry: no request, through the SW or otherwise.
    assert requested == []


def test_a_corrupted_cached_model_file_is_dropped_and_fetched_again(chat):
    chat.open()
    wait_until_model_is_kept(chat)
    damaged = chat.page.evaluate("""async (file) => {
        const cache = await caches.open("pagellm-models");
        for (const request of await cache.keys()) {
            if (request.url.includes(file)) { await cache.put(request, new Response("garbage")); return request.url; }
        }
    }""", MODEL_FILE)
    assert damaged
    chat.page.reload()
    chat.wait_state("ready", BOOT_TIMEOUT)
    expect(chat.page.locator("#store-note")).to_contain_text("damaged")
    assert chat.ask("Still fine?", max_tokens=4).strip()
    size = chat.page.evaluate("""async (url) => (await (await (await caches.open("pagellm-models")).match(url)).arrayBuffer()).byteLength""", damaged)
    assert size > 1000


def test_the_service_worker_isolates_a_page_served_without_headers(page, guard, console, dist):
    server, url = plain_server(dist)
    try:
        chat = ChatPage(page, url).open()
        assert page.evaluate("crossOriginIsolated") is False
        expect(chat.by("offline-status")).to_contain_text("single-threaded")
        expect(page.locator("html")).to_have_attribute("data-offline", "ready", timeout=BOOT_TIMEOUT)
        page.reload()
        chat.wait_state("ready", BOOT_TIMEOUT)
        assert page.evaluate("crossOriginIsolated") is True
        expect(chat.by("offline-status")).to_contain_text("multi-threaded")
        assert chat.ask("Hello", max_tokens=4).strip()
    finally:
        server.shutdown()


def test_a_tampered_file_is_refused_with_a_visible_message(page, guard, console, dist, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(dist, site, copy_function=shutil.copy)  # real copies: dist/ must stay intact
    tampered = site / MODEL_FILE
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    server, url = plain_server(site)
    try:
        chat = ChatPage(page, url)
        chat.open(wait_ready=False)
        expect(page.locator("html")).to_have_attribute("data-offline", "ready", timeout=BOOT_TIMEOUT)
        page.reload()
        expect(chat.by("error")).to_contain_text("Integrity check failed", timeout=BOOT_TIMEOUT)
        chat.wait_state("error", BOOT_TIMEOUT)
    finally:
        server.shutdown()


def test_a_kept_model_can_be_deleted_from_the_storage_panel(chat):
    chat.open()
    wait_until_model_is_kept(chat)
    chat.by("cached-models").locator("li[data-model=tiny-random] button").click()
    expect(chat.by("cached-models").locator("li[data-model=tiny-random]")).to_have_count(0)
    left = chat.page.evaluate("""async () => (await (await caches.open("pagellm-models")).keys())
        .map((r) => r.url).filter((u) => u.includes("/models/tiny-random/"))""")
    assert left == []
