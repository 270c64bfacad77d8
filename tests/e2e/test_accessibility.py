"""Accessibility checked by a machine: axe-core (npm, pinned; a test tool, not served by the site) runs
on every state of the page — booting, ready, generating, an error, settings open, phone width, dark —
and finds no serious or critical violation."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import REPLY_TIMEOUT

AXE = (Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js").read_text()


def violations(page) -> list[str]:
    """axe's serious and critical findings on the page as it is now, one line each."""
    page.evaluate(AXE + "\n;0")  # through DevTools: the page's content security policy does not apply
    result = page.evaluate("""async () => {
        const r = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } });
        return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
          .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`);
    }""")
    return result


def test_booting_and_ready(chat):
    chat.open(wait_ready=False)
    expect(chat.page.locator("html")).to_have_attribute("data-state", "booting")
    assert violations(chat.page) == []
    chat.wait_state("ready")
    assert violations(chat.page) == []


def test_generating_and_after_a_reply(chat):
    chat.open()
    chat.set_setting("max-tokens", 400)
    chat.set_setting("temperature", 1)
    chat.send("Tell a long story")
    chat.wait_state("generating")
    assert violations(chat.page) == []
    chat.by("stop").click()
    chat.wait_state("ready", REPLY_TIMEOUT)
    assert violations(chat.page) == []


def test_an_error_and_settings_open(chat):
    chat.open()
    chat.set_setting("temperature", 9)
    chat.send("Hello")
    expect(chat.by("error")).to_be_visible(timeout=REPLY_TIMEOUT)
    assert violations(chat.page) == []  # with the settings panel open (set_setting opened it)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_width_light_and_dark(chat, scheme):
    chat.page.set_viewport_size({"width": 390, "height": 844})
    chat.page.emulate_media(color_scheme=scheme)
    chat.open()
    assert violations(chat.page) == []
    chat.page.locator("#toggle-sidebar").click()
    assert violations(chat.page) == []
