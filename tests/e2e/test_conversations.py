"""Conversations people work with (local tiny model): edit and branch, navigate, regenerate an earlier
reply, continue a cut reply, delete, keyboard, search across chats, back up and restore everything,
pins, and chats saved by the version 1 page."""

from __future__ import annotations

import json
import time

from playwright.sync_api import expect

from tests.e2e.helpers import BOOT_TIMEOUT

PUT_RECORDS = """async (records) => {
  const db = await new Promise((resolve, reject) => {
    const open = indexedDB.open("pagellm", 1);
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  await new Promise((resolve, reject) => {
    const tx = db.transaction("conversations", "readwrite");
    if (records === null) tx.objectStore("conversations").clear();
    else for (const record of records) tx.objectStore("conversations").put(record);
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
  db.close();
}"""

GET_RECORDS = """async () => {
  const db = await new Promise((resolve) => { const open = indexedDB.open("pagellm", 1); open.onsuccess = () => resolve(open.result); });
  const all = await new Promise((resolve) => { const r = db.transaction("conversations").objectStore("conversations").getAll(); r.onsuccess = () => resolve(r.result); });
  db.close();
  return all;
}"""


def v1_record(index: int, *, middle: str = "an ordinary middle message") -> dict:
    """A chat as the version 1 page saved it: a flat list, no ids."""
    return {"id": f"old-{index}", "title": f"Old chat {index}", "system_prompt": "", "updated": 1_000 + index,
            "messages": [{"role": "user", "content": f"Opening question {index}", "status": "complete", "created": 1.0},
                         {"role": "assistant", "content": f"First answer {index}", "status": "complete", "created": 2.0},
                         {"role": "user", "content": f"Line one\n{middle} {index}\nline three", "status": "complete", "created": 3.0},
                         {"role": "assistant", "content": "Last answer", "status": "stopped", "created": 4.0}]}


def texts(chat, role=None) -> list[str]:
    return [t.strip() for t in chat.messages(role).locator(".content").all_inner_texts()]


def reload(chat) -> None:
    chat.page.reload()
    chat.wait_state("ready", BOOT_TIMEOUT)


def test_edit_starts_a_branch_navigate_between_them_and_both_survive_a_reload(chat):
    chat.open()
    chat.ask("First question", max_tokens=6)
    chat.ask("Second question", max_tokens=6)
    first = chat.messages("user").first
    first.get_by_test_id("edit").click()
    first.get_by_test_id("edit-text").fill("First question, edited")
    first.get_by_test_id("edit-save").click()
    chat.wait_state("ready")
    expect(chat.messages()).to_have_count(2)
    expect(chat.messages("user").first.locator(".content")).to_have_text("First question, edited")
    expect(chat.messages("user").first.get_by_test_id("branch-index")).to_have_text("2/2")
    chat.messages("user").first.get_by_test_id("branch-prev").click()
    expect(chat.messages()).to_have_count(4)
    assert texts(chat, "user") == ["First question", "Second question"]
    expect(chat.messages("user").first.get_by_test_id("branch-index")).to_have_text("1/2")
    reload(chat)
    assert texts(chat, "user") == ["First question", "Second question"]
    chat.messages("user").first.get_by_test_id("branch-next").click()
    expect(chat.messages("user").first.locator(".content")).to_have_text("First question, edited")
    expect(chat.messages()).to_have_count(2)
    # The edited branch is the one the model reads next.
    chat.ask("Third", max_tokens=4)
    assert texts(chat, "user") == ["First question, edited", "Third"]


def test_regenerate_an_earlier_reply_keeps_the_old_one_as_a_sibling(chat):
    chat.open()
    first_reply = chat.ask("One", max_tokens=6)
    chat.ask("Two", max_tokens=6)
    chat.set_setting("temperature", 1.5)
    chat.messages("assistant").first.get_by_test_id("regenerate").click()
    chat.wait_state("ready")
    expect(chat.messages()).to_have_count(2)
    reply = chat.messages("assistant").first
    expect(reply.get_by_test_id("branch-index")).to_have_text("2/2")
    reply.get_by_test_id("branch-prev").click()
    expect(chat.messages()).to_have_count(4)
    assert texts(chat, "assistant")[0] == first_reply.strip()


def test_continue_a_reply_cut_at_the_token_limit_and_one_that_was_stopped(chat):
    chat.open()
    cut = chat.ask("Tell me a story", max_tokens=5)
    assert chat.by("stats").get_attribute("data-finish-reason") == "length"
    reply = chat.messages("assistant").last
    reply.get_by_test_id("continue").click()
    chat.wait_state("ready")
    expect(chat.messages("assistant")).to_have_count(1)
    longer = chat.messages("assistant").last.locator(".content").inner_text()
    assert longer.startswith(cut.strip()[:10]) and len(longer) > len(cut), (cut, longer)
    # Stopped by the user (Escape), then carried on.
    chat.set_setting("max-tokens", 1500)
    chat.send("Write a very long essay")
    chat.wait_reply_text(timeout=120_000)
    chat.page.keyboard.press("Escape")
    chat.wait_state("ready")
    stopped = chat.messages("assistant").last
    expect(stopped).to_have_attribute("data-status", "stopped")
    chat.set_setting("max-tokens", 4)
    stopped.get_by_test_id("continue").click()
    chat.wait_state("ready")
    expect(chat.messages("assistant").last).to_have_attribute("data-status", "complete")
    expect(chat.messages("assistant")).to_have_count(2)


def test_up_arrow_edits_the_last_message_and_delete_removes_what_follows(chat):
    chat.open()
    chat.ask("Keep me", max_tokens=4)
    chat.ask("Remove me", max_tokens=4)
    chat.by("prompt").focus()
    chat.by("prompt").press("ArrowUp")
    editor = chat.messages("user").last.get_by_test_id("edit-text")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("Remove me")
    editor.press("Escape")
    expect(editor).to_have_count(0)
    chat.page.once("dialog", lambda dialog: dialog.accept())
    chat.messages("user").last.get_by_test_id("delete-message").click()
    expect(chat.messages()).to_have_count(2)
    reload(chat)
    assert texts(chat, "user") == ["Keep me"]


def test_v1_chats_open_unchanged_and_search_finds_a_middle_message_of_an_old_chat(chat):
    chat.open()
    records = [v1_record(i) for i in range(5)]
    records[2] = v1_record(2, middle="the word periwinkle hides here")
    chat.page.evaluate(PUT_RECORDS, records)
    reload(chat)
    expect(chat.by("chat-item")).to_have_count(5)
    chat.page.keyboard.press("Control+k")
    expect(chat.by("chat-search")).to_be_focused()
    chat.page.keyboard.type("periwinkle")
    results = chat.by("search-result")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("Old chat 2")
    expect(results.first).to_contain_text("the word periwinkle hides here 2")
    results.first.get_by_role("button").click()
    found = chat.page.locator("[data-found=true]")
    expect(found).to_contain_text("periwinkle")
    # The version 1 chat reads exactly as it was, now in the version 2 form with branch actions.
    assert texts(chat) == ["Opening question 2", "First answer 2", "Line one\nthe word periwinkle hides here 2\nline three",
                           "Last answer"]
    expect(chat.messages("assistant").last).to_have_attribute("data-status", "stopped")
    expect(chat.messages("assistant").last.get_by_test_id("continue")).to_be_visible()
    saved = {r["id"]: r for r in chat.page.evaluate(GET_RECORDS)}
    assert saved["old-2"]["version"] == 2 and [m["content"] for m in saved["old-2"]["messages"]] == [
        m["content"] for m in records[2]["messages"]]
    assert "version" not in saved["old-3"]  # unopened chats are left as they were


def test_search_with_1000_chats(chat):
    chat.open()
    records = [v1_record(i) for i in range(1000)]
    records[17] = v1_record(17, middle="a needle named quokka")
    chat.page.evaluate(PUT_RECORDS, records)
    reload(chat)
    expect(chat.by("chat-item")).to_have_count(1000)
    started = time.perf_counter()
    chat.by("chat-search").fill("quokka")
    expect(chat.by("search-result")).to_have_count(1)
    wall = time.perf_counter() - started
    search_ms = float(chat.by("search-results").get_attribute("data-ms"))
    chat.by("chat-search").fill("answer")  # a word in every chat: the list stops at 50
    expect(chat.by("search-result")).to_have_count(50)
    broad_ms = float(chat.by("search-results").get_attribute("data-ms"))
    print(f"\nsearch over 1,000 chats: {search_ms:.1f} ms (rare word), {broad_ms:.1f} ms (common word); "
          f"typing to results shown {wall * 1000:.0f} ms")
    assert search_ms < 100 and wall < 2


def test_export_all_clear_import_all_gives_the_same_chats_and_never_overwrites(chat, tmp_path):
    chat.open()
    chat.ask("Alpha chat", max_tokens=4)
    chat.messages("user").first.get_by_test_id("edit").click()
    chat.messages("user").first.get_by_test_id("edit-text").fill("Alpha chat, second version")
    chat.messages("user").first.get_by_test_id("edit-save").click()
    chat.wait_state("ready")
    chat.by("new-chat").click()
    chat.ask("Beta chat", max_tokens=4)
    before = sorted(chat.page.evaluate(GET_RECORDS), key=lambda r: r["id"])
    with chat.page.expect_download() as download:
        chat.by("export-all").click()
    backup = tmp_path / "all.json"
    download.value.save_as(backup)
    payload = json.loads(backup.read_text())
    assert payload["version"] == 2 and len(payload["conversations"]) == 2
    chat.page.evaluate(PUT_RECORDS, None)
    reload(chat)
    expect(chat.by("chat-item")).to_have_count(0)
    chat.by("import-all").set_input_files(str(backup))
    expect(chat.by("chat-item")).to_have_count(2)
    after = sorted(chat.page.evaluate(GET_RECORDS), key=lambda r: r["id"])
    keep = ("id", "title", "system_prompt", "messages", "current", "chosen", "view")
    assert [{k: r[k] for k in keep} for r in after] == [{k: r[k] for k in keep} for r in before]
    # Importing again changes nothing; a changed chat with a known id comes in as a copy.
    chat.by("import-all").set_input_files(str(backup))
    expect(chat.page.locator("#store-note")).to_contain_text("2 already here unchanged")
    payload["conversations"][0]["title"] = "Changed elsewhere"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(payload))
    chat.by("import-all").set_input_files(str(changed))
    expect(chat.by("chat-item")).to_have_count(3)
    expect(chat.by("chat-item").filter(has_text="Changed elsewhere (imported copy)")).to_have_count(1)
    # A file from a newer pagellm is refused by name, and nothing is imported.
    payload["version"] = 3
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(payload))
    chat.by("import-all").set_input_files(str(newer))
    expect(chat.by("error")).to_contain_text("newer pagellm (format version 3)")
    expect(chat.by("chat-item")).to_have_count(3)


def test_pinned_chats_stay_on_top_and_the_rest_follow_last_use(chat):
    chat.open()
    chat.ask("Chat A", max_tokens=4)
    chat.by("new-chat").click()
    chat.ask("Chat B", max_tokens=4)
    chat.by("new-chat").click()
    chat.ask("Chat C", max_tokens=4)
    expect(chat.by("chat-item").first).to_have_text("Chat C")
    chat.by("chat-item").filter(has_text="Chat A").get_by_test_id("pin-chat").check()
    expect(chat.by("chat-item").first).to_have_text("Chat A")
    chat.by("chat-item").filter(has_text="Chat B").get_by_role("button").click()
    expect(chat.by("chat-item").nth(1)).to_have_text("Chat B")  # opening a chat is using it
    reload(chat)
    items = [t.strip() for t in chat.by("chat-item").all_text_contents()]
    assert items == ["Chat A", "Chat B", "Chat C"]
