"""Models beyond the bundle: by id from a (loopback) Hub, and from a folder on this computer."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import BOOT_TIMEOUT, REPLY_TIMEOUT
from tests.hub_server import FakeHub

ROOT_MODELS = __import__("pathlib").Path(__file__).resolve().parents[2] / "models" / "build"
TINY = ROOT_MODELS / "tiny-random"


@pytest.fixture(scope="module")
def hub():
    tiny_files = {p.relative_to(TINY).as_posix(): p.read_bytes() for p in TINY.rglob("*") if p.is_file()}
    repos = {
        "pagellm-test/tiny-chat": TINY,
        "pagellm-test/no-tokenizer": {k: v for k, v in tiny_files.items() if k != "tokenizer.json"},
        # Only the 4-bit file, whose attention is still GroupQueryAttention (the recipe rewrites the int8 one).
        "pagellm-test/tiny-gqa": {k: v for k, v in tiny_files.items()
                                  if not k.startswith("onnx/") or k == "onnx/model_q4.onnx"},
        "pagellm-test/bert-like": {"config.json": json.dumps({"model_type": "bert"}).encode(),
                                   "onnx/model.onnx": b"\0" * 16},
        "pagellm-test/huge": {"config.json": tiny_files["config.json"], "onnx/model_quantized.onnx": 6_000_000_000},
    }
    with FakeHub(repos) as server:
        yield server


def load_from_hub(chat, hub, model_id):
    chat.open_settings()
    chat.page.locator("#more-models summary").click()
    chat.by("hub-base-url").fill(hub.url)
    chat.by("hub-model-id").fill(model_id)
    chat.by("load-model").click()


def test_a_hub_model_loads_by_id_chats_and_works_offline_from_cache(chat, hub):
    chat.open()
    load_from_hub(chat, hub, "pagellm-test/tiny-chat")
    expect(chat.page.locator("#progress-text")).to_contain_text("pagellm-test/tiny-chat ready", timeout=BOOT_TIMEOUT)
    expect(chat.by("model-plan")).to_contain_text("fits")
    assert any("/pagellm-test/tiny-chat/resolve/main/onnx/model_quantized.onnx" in r for r in hub.requests)
    assert chat.ask("Hello from the Hub", max_tokens=6).strip()
    # Offline: the page comes back with the same Hub model, from the browser's cache.
    expect(chat.page.locator("html")).to_have_attribute("data-offline", "ready", timeout=BOOT_TIMEOUT)
    chat.page.context.set_offline(True)
    try:
        chat.page.goto(chat.base_url)
        chat.wait_state("ready", BOOT_TIMEOUT)
        expect(chat.page.locator("#progress-text")).to_contain_text("pagellm-test/tiny-chat")
        assert chat.ask("Still here offline?", max_tokens=6).strip()
    finally:
        chat.page.context.set_offline(False)


def test_a_hub_model_with_slow_long_prompt_attention_says_so(chat, hub):
    chat.open()
    expect(chat.page.locator("#device-note")).not_to_contain_text("GroupQueryAttention")
    load_from_hub(chat, hub, "pagellm-test/tiny-gqa")
    expect(chat.page.locator("#progress-text")).to_contain_text("pagellm-test/tiny-gqa ready", timeout=BOOT_TIMEOUT)
    expect(chat.page.locator("#device-note")).to_contain_text("GroupQueryAttention")
    assert chat.ask("Hello", max_tokens=4).strip()


@pytest.mark.parametrize("model_id,message", [
    ("pagellm-test/does-not-exist", "There is no model pagellm-test/does-not-exist"),
    ("pagellm-test/no-tokenizer", "tokenizer.json"),
    ("pagellm-test/bert-like", "bert, which pagellm cannot chat with"),
    ("pagellm-test/huge", "will not fit"),
    ("not an id", "not a Hub model id"),
])
def test_hub_failures_say_why_and_leave_the_page_usable(chat, hub, model_id, message):
    chat.open()
    load_from_hub(chat, hub, model_id)
    expect(chat.by("error")).to_contain_text(message, timeout=REPLY_TIMEOUT)
    if model_id == "pagellm-test/huge":
        assert not any("huge/resolve/main/onnx/model_quantized.onnx" in r and "HEAD" not in r for r in hub.requests[-1:])
    # Back to the bundled model: the page still works.
    chat.by("hub-model-id").fill("")
    chat.by("load-model").click()
    chat.wait_state("ready", BOOT_TIMEOUT)
    assert chat.ask("Hi", max_tokens=4).strip()


def test_a_model_folder_from_this_computer(chat):
    chat.open()
    chat.open_settings()
    chat.page.locator("#more-models summary").click()
    chat.by("local-folder").set_input_files(str(TINY))
    expect(chat.page.locator("#progress-text")).to_contain_text("Model from this computer ready", timeout=BOOT_TIMEOUT)
    assert chat.ask("Hello folder", max_tokens=6).strip()
