"""A new visitor's page: what is happening while it starts, an empty chat that explains itself with
starter prompts, a message typed before the model is ready sent once it is, settings in their own panel,
the remote provider following the URL typed, the test model hidden, and the deployer's presets."""

from __future__ import annotations

import json

from playwright.sync_api import expect

from tests.e2e.helpers import BOOT_TIMEOUT, REPLY_TIMEOUT


def test_an_empty_chat_explains_itself_and_a_starter_prompt_is_answered(chat):
    chat.open()
    welcome = chat.by("welcome")
    expect(welcome).to_be_visible()
    expect(welcome).to_contain_text("nothing you type leaves this machine")
    expect(welcome).to_contain_text("WebAssembly")
    starters = chat.by("starter-prompt")
    assert starters.count() == 4
    chat.set_setting("max-tokens", 6)
    text = starters.first.inner_text()
    starters.first.click()
    expect(chat.messages("assistant")).to_have_count(1, timeout=REPLY_TIMEOUT)
    expect(chat.messages("user").first).to_contain_text(text)
    expect(welcome).to_be_hidden()


def test_a_message_typed_while_the_page_starts_is_sent_when_the_model_is_ready(chat):
    chat.open(wait_ready=False)
    chat.by("prompt").fill("Sent once ready")
    chat.by("send").click()
    expect(chat.by("status-detail")).to_contain_text("as soon as the model is ready")
    chat.wait_state("ready", BOOT_TIMEOUT)
    expect(chat.messages("user")).to_have_count(1, timeout=REPLY_TIMEOUT)
    expect(chat.messages("user").first).to_contain_text("Sent once ready")


def test_settings_open_in_their_panel_and_escape_closes_it(chat):
    chat.open()
    panel = chat.page.get_by_test_id("settings-panel")
    expect(panel).to_be_hidden()
    chat.page.get_by_test_id("settings").click()
    expect(panel).to_be_visible()
    expect(chat.page.get_by_test_id("settings")).to_have_attribute("aria-expanded", "true")
    chat.page.get_by_test_id("temperature").focus()
    chat.page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(chat.page.get_by_test_id("settings")).to_be_focused()


def test_the_provider_follows_the_url_and_a_local_server_needs_no_key(chat):
    chat.open()
    chat.open_settings()
    chat.page.locator("input[name=backend-choice][value=remote]").check(force=True)
    chat.by("provider").select_option("openai")
    url = chat.by("remote-base-url")
    url.fill("http://localhost:11434/v1")
    expect(chat.by("provider")).to_have_value("ollama")
    url.fill("http://127.0.0.1:8080/v1")
    expect(chat.by("provider")).to_have_value("llamacpp")
    url.fill("https://gateway.example.com/v1")
    expect(chat.by("provider")).to_have_value("custom")
    url.fill("https://api.openai.com/v1")
    expect(chat.by("provider")).to_have_value("openai")


def test_the_test_model_is_offered_only_when_a_link_names_it(page, guard, console, site):
    from tests.e2e.helpers import ChatPage

    chat = ChatPage(page, site).open("backend=remote")
    chat.open_settings()
    values = chat.by("local-model").locator("option").evaluate_all("(options) => options.map((o) => o.value)")
    assert "tiny-random" not in values and "smollm2-135m-instruct" in values
    chat.open("model=tiny-random&device=wasm")
    chat.open_settings()
    expect(chat.by("local-model")).to_have_value("tiny-random")


def test_a_preset_link_sets_title_prompts_and_system_prompt_and_an_unknown_one_is_named(chat):
    chat.open("model=tiny-random&device=wasm&preset=workshop")
    expect(chat.page).to_have_title("pagellm workshop")
    expect(chat.page.locator("#site-tagline")).to_contain_text("offline demo")
    expect(chat.by("starter-prompt")).to_have_count(2)
    expect(chat.by("starter-prompt").first).to_have_text("What is a neural network?")
    expect(chat.by("system-prompt")).to_have_value("You are a patient tutor. Answer in short, clear sentences.")
    chat.open("preset=workshop", wait_ready=False)  # the preset's own model and device, no link overriding them
    expect(chat.page).to_have_title("pagellm workshop")
    chat.open_settings()
    expect(chat.by("local-model")).to_have_value("smollm2-135m-instruct")
    expect(chat.page.locator("#device-choice")).to_have_value("wasm")
    chat.open("model=tiny-random&device=wasm&preset=nope")
    expect(chat.by("site-notice")).to_contain_text('no preset "nope" (it has workshop, local-server)')
    expect(chat.page).to_have_title("pagellm")


def test_copy_link_to_these_settings_never_includes_the_key(chat):
    chat.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    chat.open()
    chat.open_settings()
    chat.page.locator("input[name=backend-choice][value=remote]").check(force=True)
    chat.by("remote-base-url").fill("http://127.0.0.1:8080/v1")
    chat.by("remote-api-key").fill("sk-secret-123")
    chat.by("copy-settings-link").click()
    link = chat.page.evaluate("navigator.clipboard.readText()")
    assert "sk-secret" not in link and "base_url=http" in link and "backend=remote" in link
    chat.page.goto(link)
    chat.wait_state("ready", BOOT_TIMEOUT)
    chat.open_settings()
    expect(chat.by("remote-base-url")).to_have_value("http://127.0.0.1:8080/v1")
    expect(chat.by("provider")).to_have_value("llamacpp")
    assert json.dumps(chat.page.evaluate("() => ({...localStorage})")).count("sk-secret") == 0


def test_shortcuts_work_from_the_keyboard_and_are_listed(chat):
    chat.open()
    chat.ask("First", max_tokens=4)
    chat.page.locator("body").click()
    chat.page.keyboard.press("/")
    expect(chat.by("prompt")).to_be_focused()
    chat.page.keyboard.press("Control+Shift+O")
    expect(chat.messages()).to_have_count(0)
    chat.page.keyboard.press("Control+/")
    dialog = chat.page.get_by_test_id("shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("New chat")
    chat.page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    chat.page.keyboard.press("Control+,")
    expect(chat.page.get_by_test_id("settings-panel")).to_be_visible()


RECORD_PROGRESS = """
new MutationObserver(() => {
  const text = document.getElementById("progress-text")?.textContent;
  if (text && (window.__progress ??= []).at(-1) !== text) window.__progress.push(text);
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


def test_a_first_visit_shows_the_model_download_while_python_starts(chat):
    chat.page.add_init_script(RECORD_PROGRESS)
    chat.open()
    seen = chat.page.evaluate("window.__progress")
    downloads = [text for text in seen if " of " in text and "B" in text]
    assert downloads, seen  # the early download's bytes, told by the worker while Python started
    assert any(text.startswith("Starting Python") for text in downloads), downloads
    # Python took the session made while it started: the page's plan asked for what the engine wants
    # (the model, device, dtype, ONNX Runtime build and session options).
    expect(chat.page.locator("html")).to_have_attribute("data-model-start", "early")
