"""The page is an installable app: a complete manifest with icons the build drew from web/icon.svg,
and Chromium itself reports no installability error."""

from __future__ import annotations

import json
import struct

from playwright.sync_api import expect

from tests.e2e.helpers import ChatPage
from tests.guard import NetworkGuard

MANIFEST_FIELDS = ("name", "short_name", "description", "start_url", "scope", "display", "theme_color",
                   "background_color", "icons")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_the_manifest_is_complete_and_its_icons_are_served(page, site, guard):
    manifest = json.loads(page.request.get(f"{site}manifest.webmanifest").body())
    assert all(manifest.get(field) for field in MANIFEST_FIELDS), manifest
    assert manifest["display"] == "standalone"
    purposes = set()
    for icon in manifest["icons"]:
        response = page.request.get(f"{site}{icon['src']}")
        assert response.ok, icon
        if icon["type"] == "image/png":
            width, height = png_size(response.body())
            assert f"{width}x{height}" == icon["sizes"], icon
        purposes.add(icon.get("purpose", "any"))
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes and {"any", "maskable"} <= purposes


def test_chromium_reports_no_installability_errors(browser_type, browser_type_launch_args, site, tmp_path):
    # A profile on disk: Playwright's usual contexts are incognito, where Chromium installs nothing.
    context = browser_type.launch_persistent_context(tmp_path / "profile", **browser_type_launch_args)
    guard = NetworkGuard()
    context.route("**/*", guard)
    try:
        page = context.new_page()
        ChatPage(page, site).open()
        expect(page.locator("link[rel=manifest]")).to_have_count(1)
        cdp = context.new_cdp_session(page)
        manifest = cdp.send("Page.getAppManifest")
        assert not manifest.get("errors"), manifest["errors"]
        # The service worker (offline.js) is part of what makes a page installable.
        page.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.controller", timeout=60_000)
        errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        assert errors == [], errors
    finally:
        context.close()
    assert not guard.outside, guard.outside
