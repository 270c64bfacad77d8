"""Python's memory snapshot (build_snapshot.mjs, web/python-snapshot.mjs): made at build time with pagellm
imported, every visit's Python starts from it, the first one included; a damaged or missing snapshot
means Python starts as usual, and says nothing alarming."""

from __future__ import annotations

import gzip

from playwright.sync_api import expect

from tests.e2e.helpers import BOOT_TIMEOUT, ChatPage

SNAPSHOT = "**/python/snapshot-*.gz"


def python_start(chat: ChatPage) -> str | None:
    return chat.page.locator("html").get_attribute("data-python-start")


def started_and_chats(chat: ChatPage, how: str) -> None:
    chat.open()
    expect(chat.page.locator("html")).to_have_attribute("data-python-start", how, timeout=BOOT_TIMEOUT)
    assert chat.ask("Hello", max_tokens=8).strip()
    expect(chat.by("error")).to_be_hidden()


def test_the_first_visit_and_the_next_start_python_from_the_snapshot_and_chat(chat, dist):
    snapshot = next((dist / "python").glob("snapshot-*.gz"))
    assert gzip.decompress(snapshot.read_bytes())[:4] != b"\x1f\x8b"
    started_and_chats(chat, "snapshot")
    chat.page.reload()
    chat.wait_state("ready", BOOT_TIMEOUT)
    assert python_start(chat) == "snapshot"


def test_a_damaged_snapshot_means_python_starts_as_usual(chat, context):
    def damaged(route):
        body = bytearray(route.fetch().body())
        body[len(body) // 2] ^= 0xFF  # one byte flipped: gzip's CRC-32 no longer matches
        route.fulfill(status=200, body=bytes(body), headers={"Content-Type": "application/gzip"})

    context.route(SNAPSHOT, damaged)
    started_and_chats(chat, "fresh")


def test_a_missing_snapshot_means_python_starts_as_usual(chat, context):
    context.route(SNAPSHOT, lambda route: route.fulfill(status=404, body="gone"))
    started_and_chats(chat, "fresh")


def test_a_snapshot_the_server_sends_gzip_encoded_is_used_as_the_browser_unpacked_it(chat, context):
    def encoded(route):
        route.fulfill(status=200, body=route.fetch().body(),
                      headers={"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"})

    context.route(SNAPSHOT, encoded)
    started_and_chats(chat, "snapshot")
