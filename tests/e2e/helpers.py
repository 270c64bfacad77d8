"""A small page object for the chat page, speaking only the page's data-testid contract."""

from __future__ import annotations

from playwright.sync_api import Page, expect

BOOT_TIMEOUT = 120_000  # ms: Pyodide boot on a busy 2-core machine
REPLY_TIMEOUT = 120_000


# The fields that live in the settings panel: asking for one opens the panel, as a person would.
SETTINGS_FIELDS = {"backend", "local-model", "device", "load-model", "provider", "remote-base-url", "remote-api-key",
                   "remote-model", "test-connection", "system-prompt", "temperature", "max-tokens", "hub-base-url",
                   "hub-model-id", "local-folder", "model-plan", "code-time-limit", "run-python-tool",
                   "offline-status", "cached-models", "copy-settings-link", "theme", "locale", "speculative"}


class ChatPage:
    def __init__(self, page: Page, base_url: str):
        self.page = page
        self.base_url = base_url

    def open(self, query: str = "model=tiny-random&device=wasm", *, wait_ready: bool = True) -> "ChatPage":
        self.page.goto(f"{self.base_url}?{query}" if query else self.base_url)
        if wait_ready:
            self.wait_state("ready", BOOT_TIMEOUT)
        return self

    def by(self, testid: str):
        if testid in SETTINGS_FIELDS:
            self.open_settings()
        return self.page.get_by_test_id(testid)

    def open_settings(self) -> None:
        """Open the settings panel (engine, model, endpoint, sampling) if it is closed."""
        if self.page.get_by_test_id("settings-panel").is_hidden():
            self.page.get_by_test_id("settings").click()
        advanced = self.page.locator("#settings-panel details.advanced")
        if not advanced.evaluate("(d) => d.open"):
            advanced.locator("summary").click()

    @property
    def state(self) -> str:
        return self.page.locator("html").get_attribute("data-state")

    def wait_state(self, state: str, timeout: float = REPLY_TIMEOUT) -> None:
        expect(self.page.locator("html")).to_have_attribute("data-state", state, timeout=timeout)

    def set_setting(self, testid: str, value) -> None:
        field = self.by(testid)
        field.fill(str(value))
        field.dispatch_event("change")

    def send(self, text: str) -> None:
        self.by("prompt").fill(text)
        self.by("send").click()

    def ask(self, text: str, *, max_tokens: int | None = 24, temperature: float | None = 0) -> str:
        """Send and wait for the reply to finish; returns the last assistant message's text."""
        if max_tokens is not None:
            self.set_setting("max-tokens", max_tokens)
        if temperature is not None:
            self.set_setting("temperature", temperature)
        before = self.messages("assistant").count()
        self.send(text)
        expect(self.messages("assistant")).to_have_count(before + 1, timeout=REPLY_TIMEOUT)
        self.wait_state("ready")
        return self.messages("assistant").last.locator(".content").inner_text()

    def wait_reply_text(self, timeout: float = REPLY_TIMEOUT) -> None:
        """Wait until the streaming reply shows the model's words (while the prompt is read, it shows
        a "Reading" notice instead, and a reply stopped then has no text)."""
        expect(self.page.locator("[data-streaming=true][data-updates]")).to_have_count(1, timeout=timeout)

    def messages(self, role: str | None = None):
        selector = self.by("message")
        return selector.and_(self.page.locator(f"[data-role={role}]")) if role else selector

    def error_text(self) -> str:
        return self.by("error").inner_text()


def use_remote(chat: ChatPage, base_url: str, model: str = "fake-model", *, provider: str = "custom",
               key: str | None = None) -> None:
    """Switch the page to a remote endpoint through the UI, as a person would."""
    chat.open_settings()
    chat.page.locator("input[name=backend-choice][value=remote]").check(force=True)
    chat.by("remote-base-url").fill(base_url)
    chat.by("provider").select_option(provider)  # after the URL: what kind of server it is
    if key is not None:
        chat.by("remote-api-key").fill(key)
    chat.by("remote-model").fill(model)
    expect(chat.by("backend")).to_have_attribute("value", "remote")
