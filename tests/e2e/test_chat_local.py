"""Chatting with the local engine (tiny test model, WebAssembly): streaming, stop, history, settings,
errors, safe rendering, reloads."""

from __future__ import annotations

import json
import re

import pytest

from playwright.sync_api import expect

from tests.e2e.helpers import BOOT_TIMEOUT


def test_reply_streams_in_several_updates_with_stats(chat):
    chat.open()
    text = chat.ask("Tell me a story", max_tokens=300)
    assert len(text.strip()) > 10
    stats = chat.by("stats")
    assert int(stats.get_attribute("data-updates")) >= 3, "the reply arrived in one piece, not streamed"
    assert int(stats.get_attribute("data-tokens")) == 300
    assert "tok/s" in stats.inner_text() and "first token" in stats.inner_text()


def test_enter_sends_and_shift_enter_adds_a_line(chat):
    chat.open()
    chat.set_setting("max-tokens", 4)
    prompt = chat.by("prompt")
    prompt.fill("first line")
    prompt.press("Shift+Enter")
    prompt.type("second line")
    expect(prompt).to_have_value("first line\nsecond line")
    prompt.press("Enter")
    expect(chat.messages("user")).to_have_count(1)
    expect(chat.messages("user").first.locator(".content")).to_have_text("first line\nsecond line")
    chat.wait_state("ready")


def test_multi_turn_history_reaches_the_model(chat):
    chat.open()
    chat.ask("My name is Ada.", max_tokens=6)
    first_prompt = int(chat.by("stats").get_attribute("data-prompt-tokens"))
    chat.ask("What is my name?", max_tokens=6)
    second_prompt = int(chat.by("stats").get_attribute("data-prompt-tokens"))
    expect(chat.messages()).to_have_count(4)
    # The second prompt carries the first exchange: far more tokens than the new question alone.
    assert second_prompt > first_prompt + 6


def test_stop_mid_reply_keeps_the_partial_reply_marked_stopped(chat):
    chat.open()
    chat.set_setting("max-tokens", 1500)
    chat.set_setting("temperature", 0)
    chat.send("Write a very long essay")
    chat.wait_reply_text()
    chat.by("stop").click()
    chat.wait_state("ready")
    reply = chat.messages("assistant").last
    expect(reply).to_have_attribute("data-status", "stopped")
    assert reply.locator(".content").inner_text().strip()
    assert int(chat.by("stats").get_attribute("data-tokens")) < 1500
    assert chat.by("stats").get_attribute("data-finish-reason") == "cancelled"
    # The conversation goes on after a stop.
    chat.ask("Shorter please", max_tokens=4)
    expect(chat.messages("assistant")).to_have_count(2)


def test_settings_out_of_range_are_refused_and_nothing_is_lost(chat):
    chat.open()
    chat.set_setting("temperature", 5)
    chat.send("keep this text")
    expect(chat.by("error")).to_contain_text("temperature must be between 0 and 2, got 5")
    expect(chat.by("temperature")).to_have_attribute("aria-invalid", "true")
    expect(chat.by("prompt")).to_have_value("keep this text")
    expect(chat.messages()).to_have_count(0)
    chat.wait_state("ready")


def test_empty_prompt_is_refused_with_a_message(chat):
    chat.open()
    chat.by("prompt").fill("   ")
    chat.by("send").click()
    expect(chat.by("error")).to_contain_text("empty prompt")
    expect(chat.messages()).to_have_count(0)


def test_model_output_is_rendered_as_inert_markdown(chat):
    chat.open()
    payload = ("**bold** and `code`\n\n```python\nprint('hi')\n```\n\n<img src=x onerror=\"window.pwned=1\">"
               "<script>window.pwned=2</script>[click](javascript:window.pwned=3)"
               "<iframe src=\"https://example.com\"></iframe><a href=\"https://example.com\" onclick=\"window.pwned=4\">x</a>"
               "![tracker](https://example.com/pixel.png)")
    export = {"format": "pagellm.conversations", "version": 1, "conversations": [{"id": "x", "title": "t", "messages": [
        {"role": "user", "content": "<b>not bold</b>", "status": "complete"},
        {"role": "assistant", "content": payload, "status": "complete"}]}]}
    # The imported text goes through the very rendering path a model's reply takes.
    chat.by("import-file").set_input_files(files=[{"name": "x.json", "mimeType": "application/json",
                                                   "buffer": json.dumps(export).encode()}])
    expect(chat.messages("assistant")).to_have_count(1)
    reply = chat.messages("assistant").last.locator(".content")
    expect(reply.locator("strong")).to_have_text("bold")
    expect(reply.locator("pre code")).to_contain_text("print('hi')")
    assert reply.locator("img, script, iframe, [onerror], [onclick]").count() == 0
    assert reply.locator("a[href^='javascript']").count() == 0
    reply.locator("a", has_text="click").click() if reply.locator("a", has_text="click").count() else None
    assert chat.page.evaluate("window.pwned") is None
    # The user's text is text, never markup.
    expect(chat.messages("user").first.locator(".content")).to_have_text("<b>not bold</b>")


def test_reload_mid_reply_keeps_the_partial_reply_marked_interrupted(chat):
    chat.open()
    chat.set_setting("max-tokens", 1500)
    chat.send("Write a very long essay")
    chat.wait_reply_text()
    chat.page.wait_for_timeout(800)  # the page saves a partial reply at most every 0.4 s
    chat.page.reload()
    chat.wait_state("ready", BOOT_TIMEOUT)
    expect(chat.messages("user")).to_have_count(1)
    reply = chat.messages("assistant").last
    expect(reply).to_have_attribute("data-status", "interrupted")
    assert reply.locator(".content").inner_text().strip()


def test_new_chat_and_regenerate(chat):
    chat.open()
    first = chat.ask("Hello", max_tokens=8)
    chat.set_setting("temperature", 1.2)
    chat.messages("assistant").last.get_by_test_id("regenerate").click()
    chat.wait_state("ready")
    expect(chat.messages()).to_have_count(2)
    chat.by("new-chat").click()
    expect(chat.messages()).to_have_count(0)
    assert first


@pytest.mark.browser_context_args(service_workers="block")  # page.route must see the model requests
def test_a_model_that_fails_to_load_says_why(chat):
    chat.page.route("**/models/tiny-random/onnx/*", lambda route: route.fulfill(status=404, body="missing"))
    chat.open(wait_ready=False)
    chat.wait_state("error", BOOT_TIMEOUT)
    expect(chat.by("error")).to_contain_text("tiny-random")
    # The page stays usable: the model can be loaded again once the file is back.
    chat.page.unroute("**/models/tiny-random/onnx/*")
    chat.by("load-model").click()
    chat.wait_state("ready", BOOT_TIMEOUT)


def test_webgpu_requested_without_an_adapter_falls_back_and_says_so(chat):
    chat.open("model=tiny-random&device=webgpu")
    expect(chat.by("device")).to_have_text("wasm")
    expect(chat.page.locator("#device-note")).to_contain_text(re.compile("WebGPU (was requested|failed)"))
    assert chat.ask("Hi", max_tokens=4)


def test_chats_are_saved_listed_renamed_switched_and_deleted(chat):
    chat.open()
    chat.ask("First chat question", max_tokens=4)
    chat.by("new-chat").click()
    chat.ask("Second chat question", max_tokens=4)
    chat.page.once("dialog", lambda dialog: dialog.accept("Renamed chat"))
    chat.by("rename-chat").click()
    expect(chat.by("chat-item")).to_have_count(2)
    chat.page.reload()
    chat.wait_state("ready", BOOT_TIMEOUT)
    expect(chat.by("chat-item")).to_have_count(2)
    expect(chat.by("chat-item").first).to_have_text("Renamed chat")
    expect(chat.messages("user").first).to_contain_text("Second chat question")
    chat.by("chat-item").filter(has_text="First chat question").get_by_role("button").click()
    expect(chat.messages("user").first).to_contain_text("First chat question")
    chat.page.once("dialog", lambda dialog: dialog.accept())
    chat.by("delete-chat").click()
    expect(chat.by("chat-item")).to_have_count(1)
    expect(chat.messages("user").first).to_contain_text("Second chat question")


def test_export_and_import_round_trip_and_bad_files_change_nothing(chat, tmp_path):
    chat.open()
    chat.ask("Remember this question", max_tokens=4)
    with chat.page.expect_download() as download:
        chat.by("export-json").click()
    exported = tmp_path / "chat.json"
    download.value.save_as(exported)
    payload = json.loads(exported.read_text())
    assert payload["format"] == "pagellm.conversations"
    assert payload["conversations"][0]["openai_messages"][0] == {"role": "user", "content": "Remember this question"}
    with chat.page.expect_download() as download:
        chat.by("export-markdown").click()
    markdown = tmp_path / "chat.md"
    download.value.save_as(markdown)
    assert "Remember this question" in markdown.read_text()
    # A damaged file: a clear message, nothing changes.
    chat.by("import-file").set_input_files(files=[{"name": "bad.json", "mimeType": "application/json",
                                                   "buffer": b'{"format": "pagellm.conversations", "version": 1'}])
    expect(chat.by("error")).to_contain_text("not valid JSON")
    expect(chat.by("chat-item")).to_have_count(1)
    # Importing the export (as a copy: another id) brings the chat back beside the original.
    payload["conversations"][0]["id"] = "imported-copy"
    chat.by("import-file").set_input_files(files=[{"name": "chat.json", "mimeType": "application/json",
                                                   "buffer": json.dumps(payload).encode()}])
    expect(chat.by("chat-item")).to_have_count(2)
    expect(chat.messages("user").first).to_contain_text("Remember this question")


@pytest.mark.browser_context_args(service_workers="block")  # count the page's own requests, not the SW's
def test_model_downloads_while_python_starts_and_only_once(chat):
    model_requests = []
    chat.page.context.on("request", lambda r: model_requests.append(r) if "/models/tiny-random/" in r.url else None)
    chat.open()
    assert chat.ask("Hello", max_tokens=4).strip()
    ready = chat.page.evaluate("""() => performance.timeOrigin
        + performance.getEntriesByName("pagellm:python-ready")[0].startTime""")
    weights = [r for r in model_requests if r.url.endswith("/onnx/model_quantized.onnx")]
    assert len(weights) == 1, f"the weights were downloaded {len(weights)} times"
    # The worker's interpreter module (python-boot.mjs) fetches them before Python is ready.
    assert weights[0].timing["startTime"] < ready
    model_requests = [r.url for r in model_requests]
    for name in ("config.json", "tokenizer.json"):
        assert sum(u.endswith(f"/tiny-random/{name}") for u in model_requests) == 1, model_requests
