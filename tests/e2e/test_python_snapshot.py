"""Python's memory snapshot (web/python-snapshot.mjs): made once after the first visit's model is ready, the
next visit's Python starts from it, and a corrupted or stale one is discarded for a normal start."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.helpers import BOOT_TIMEOUT, ChatPage

SNAPSHOT_URLS = """async () => (await (await caches.open("pagellm-python")).keys()).map((r) => r.url)"""
STARTED_FROM_SNAPSHOT = "() => document.documentElement.dataset.pythonStart === 'snapshot'"


def change_the_snapshot(chat: ChatPage, change: str) -> None:
    """Runs `change` (JavaScript with `cache`, `request` and `response`: the kept snapshot) in the page."""
    chat.page.evaluate(f"""async () => {{
        const cache = await caches.open("pagellm-python");
        const [request] = await cache.keys();
        const response = await cache.match(request);
        {change}
    }}""")


def visit_with_a_snapshot(chat: ChatPage) -> None:
    chat.open()
    expect(chat.page.locator("html")).to_have_attribute("data-python-snapshot", "ready", timeout=BOOT_TIMEOUT)


def test_the_next_visit_starts_python_from_the_snapshot_and_chats(chat):
    visit_with_a_snapshot(chat)
    assert not chat.page.evaluate(STARTED_FROM_SNAPSHOT), "the first visit has no snapshot yet"
    assert len(chat.page.evaluate(SNAPSHOT_URLS)) == 1
    chat.page.reload()
    chat.wait_state("ready", BOOT_TIMEOUT)
    assert chat.page.evaluate(STARTED_FROM_SNAPSHOT)
    assert chat.page.locator("html").get_attribute("data-python-snapshot") == "ready"
    assert chat.ask("Hello", max_tokens=8).strip()


def test_a_corrupted_snapshot_is_discarded_and_python_starts_as_usual(chat):
    visit_with_a_snapshot(chat)
    change_the_snapshot(chat, """
        const bytes = new Uint8Array(await response.arrayBuffer());
        bytes[bytes.length >> 1] ^= 0xff;  // one byte flipped, the recorded hash kept
        await cache.put(request, new Response(bytes, { headers: response.headers }));""")
    chat.page.reload()
    chat.wait_state("ready", BOOT_TIMEOUT)
    assert not chat.page.evaluate(STARTED_FROM_SNAPSHOT)
    assert chat.ask("Hello", max_tokens=8).strip()
    # The damaged copy was dropped, and a good one is made again.
    expect(chat.page.locator("html")).to_have_attribute("data-python-snapshot", "ready", timeout=BOOT_TIMEOUT)


def test_a_snapshot_of_another_build_is_not_used(chat):
    visit_with_a_snapshot(chat)
    change_the_snapshot(chat, """
        await cache.put(request.url.replace(/[^/]+$/, "another-build"), response);
        await cache.delete(request);""")
    chat.page.reload()
    chat.wait_state("ready", BOOT_TIMEOUT)
    assert not chat.page.evaluate(STARTED_FROM_SNAPSHOT)
    expect(chat.page.locator("html")).to_have_attribute("data-python-snapshot", "ready", timeout=BOOT_TIMEOUT)
    urls = chat.page.evaluate(SNAPSHOT_URLS)
    assert len(urls) == 1 and not urls[0].endswith("another-build"), urls
