"""The page in other languages: chosen by the link (?locale=), the browser's language or the switch in
settings, with numbers formatted for the locale; an unknown locale shows English."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.helpers import BOOT_TIMEOUT, ChatPage
from tests.guard import NetworkGuard


def test_french_from_the_link_with_french_numbers(chat):
    chat.open("model=tiny-random&device=wasm&locale=fr")
    page = chat.page
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(chat.by("send")).to_have_text("Envoyer")
    expect(chat.by("new-chat")).to_have_text("Nouvelle discussion")
    expect(chat.by("prompt")).to_have_attribute("placeholder", re.compile("Entrée envoie"))
    expect(chat.by("welcome")).to_contain_text("rien de ce que vous tapez ne quitte cette machine")
    chat.ask("Bonjour", max_tokens=6)
    expect(chat.messages("user").first.locator(".role")).to_have_text("Vous")
    expect(chat.by("stats")).to_contain_text(re.compile(r"premier jeton en \d+,\d\d s"))
    # The context meter: French digit grouping (a narrow no-break space) and a decimal comma.
    meter = chat.by("context-meter")
    expect(chat.by("context-text")).to_be_visible()
    used, limit = int(meter.get_attribute("data-used")), int(meter.get_attribute("data-limit"))
    french = page.evaluate("(n) => n.map((x) => new Intl.NumberFormat('fr').format(x))", [used, limit])
    expect(chat.by("context-text")).to_have_text(f"{french[0]} / {french[1]} jetons")
    if limit >= 1000:
        assert "\u202f" in french[1] and "," not in french[1]
    # A saved chat's last use, as a French date (e.g. "1 déc. 2026, 12:33"), in its tooltip.
    expect(chat.by("chat-item").first.locator("button")).to_have_attribute(
        "title", re.compile(r" — \d{1,2} \S+ \d{4}.* \d{2}:\d{2}$"))
    chat.open_settings()
    expect(chat.page.locator("#settings-title")).to_have_text("Réglages")
    expect(chat.by("locale")).to_have_value("fr")
    # An error: the line for its code in French, then Python's own message.
    chat.set_setting("temperature", 5)
    chat.send("trop chaud")
    expect(chat.by("error")).to_contain_text("Un réglage est hors limites. ")
    expect(chat.by("error")).to_contain_text("temperature must be between 0 and 2, got 5")


def test_an_unknown_locale_shows_english(chat):
    chat.open("model=tiny-random&device=wasm&locale=xx")
    expect(chat.page.locator("html")).to_have_attribute("lang", "en")
    expect(chat.by("send")).to_have_text("Send")
    expect(chat.by("welcome")).to_contain_text("nothing you type leaves this machine")


def test_the_switch_changes_the_language_live_and_is_kept(chat):
    chat.open()
    page = chat.page
    expect(page.locator("html")).to_have_attribute("lang", "en")
    chat.ask("Hello", max_tokens=4)
    chat.by("locale").select_option("de")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(chat.by("send")).to_have_text("Senden")
    expect(chat.messages("assistant").first.locator(".role")).to_have_text("Assistent")
    expect(chat.by("copy").first).to_have_text("Kopieren")
    chat.by("locale").select_option("ja")
    expect(chat.by("send")).to_have_text("送信")
    page.reload()
    chat.wait_state("ready", BOOT_TIMEOUT)
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(chat.by("new-chat")).to_have_text("新しいチャット")
    chat.by("locale").select_option("")  # as the browser: English here
    expect(chat.by("send")).to_have_text("Send")
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_the_browser_language_chooses_the_catalogue(browser, site):
    context = browser.new_context(locale="zh-CN")
    guard = NetworkGuard()
    context.route("**/*", guard)
    try:
        chat = ChatPage(context.new_page(), site).open()
        expect(chat.page.locator("html")).to_have_attribute("lang", "zh")
        expect(chat.by("send")).to_have_text("发送")
        expect(chat.by("locale")).to_have_value("")
    finally:
        context.close()
    assert not guard.outside
