"""Screenshots of the page as a visitor sees it — desktop and phone width, light and dark, booting and
ready — written to screenshots/ (ignored by git) for a person to look at; each is checked to show what
that state must show."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

OUT = Path(__file__).resolve().parents[2] / "screenshots"
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_booting_and_ready_screenshots(chat, size, scheme):
    OUT.mkdir(exist_ok=True)
    chat.page.set_viewport_size(SIZES[size])
    chat.page.emulate_media(color_scheme=scheme)
    chat.open(wait_ready=False)
    expect(chat.by("progress")).to_be_visible()
    chat.page.screenshot(path=OUT / f"{size}-{scheme}-booting.png")
    chat.wait_state("ready")
    expect(chat.by("welcome")).to_be_visible()
    expect(chat.by("starter-prompt").first).to_be_visible()
    background = chat.page.evaluate("getComputedStyle(document.body).backgroundColor")
    dark = sum(int(v) for v in background[background.index("(") + 1:-1].split(",")[:3]) < 3 * 128
    assert dark == (scheme == "dark"), background
    chat.page.screenshot(path=OUT / f"{size}-{scheme}-ready.png")
