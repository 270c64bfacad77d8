"""The page's message catalogues (web/locales/*.js): every catalogue has every English key, every key the
page uses exists in English, and every error code Python can send has a line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
LOCALES = ("en", "fr", "es", "de", "zh", "ja")
ENTRY = re.compile(r'^\s*("(?:[^"\\]|\\.)+")\s*:\s*("(?:[^"\\]|\\.)*")\s*,?\s*$')
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Keys the page builds from a value (`role.${role}`, `plan.verdict_${verdict}`): listed here so they are checked.
BUILT_KEYS = [f"role.{r}" for r in ("user", "assistant", "system", "error")] + \
    [f"plan.verdict_{v}" for v in ("ok", "warn", "refuse")] + ["device.webgpu_unavailable"]


def catalogue(code: str) -> dict[str, str]:
    """A catalogue's entries: one `"key": "text",` per line between `export default {` and `};`."""
    path = WEB / "locales" / f"{code}.js"
    entries: dict[str, str] = {}
    body = path.read_text(encoding="utf-8").split("export default {", 1)[1].rsplit("};", 1)[0]
    for number, line in enumerate(body.splitlines(), 1):
        if not line.strip() or line.strip().startswith("//"):
            continue
        match = ENTRY.match(line)
        assert match, f"{path.name}: not a one-line \"key\": \"text\" entry: {line!r}"
        key, text = json.loads(match.group(1)), json.loads(match.group(2))
        assert key not in entries, f"{path.name}: {key!r} twice"
        entries[key] = text
    return entries


def keys_used_by_page(namespaces: set[str]) -> set[str]:
    """Keys named in web/: every "namespace.key" string in the modules (t("…"), tn("…"), either side of a
    `?`, dataset.i18n = "…"), and index.html's data-i18n and data-i18n-attr."""
    used: set[str] = set()
    for path in WEB.glob("*.js"):
        for key in re.findall(r'["`]([a-z]+\.[a-z_.]+)["`]', path.read_text(encoding="utf-8")):
            if key.split(".")[0] in namespaces:
                used.add(key)
    html = (WEB / "index.html").read_text(encoding="utf-8")
    used |= set(re.findall(r'data-i18n="([\w.]+)"', html))
    for spec in re.findall(r'data-i18n-attr="([^"]+)"', html):
        used |= {pair.split(":")[1].strip() for pair in spec.split(";")}
    return used


def plural_bases(keys: set[str]) -> set[str]:
    return {key.rsplit(".", 1)[0] for key in keys if key.endswith((".one", ".other"))}


def error_codes() -> set[str]:
    source = "".join((ROOT / "pysrc" / "pagellm" / name).read_text() for name in ("errors.py", "openai_errors.py"))
    return set(re.findall(r'^\s+code = "(\w+)"', source, re.M)) | {"internal"}


def test_english_has_every_key_the_page_uses():
    english = catalogue("en")
    bases = plural_bases(set(english))
    namespaces = {key.split(".")[0] for key in english}
    missing = sorted(key for key in keys_used_by_page(namespaces) | set(BUILT_KEYS)
                     if key not in english and key not in bases)
    assert not missing, f"web/locales/en.js lacks keys used in web/: {missing}"
    for base in bases:
        assert {f"{base}.one", f"{base}.other"} <= set(english), f"{base}: needs .one and .other"


def test_every_error_code_has_a_line():
    english = catalogue("en")
    missing = sorted(code for code in error_codes() if f"error.{code}" not in english)
    assert not missing, f"web/locales/en.js lacks a line for error codes: {missing}"


@pytest.mark.parametrize("code", [c for c in LOCALES if c != "en"])
def test_catalogue_has_every_english_key(code):
    english, other = catalogue("en"), catalogue(code)
    missing = sorted(set(english) - set(other))
    extra = sorted(set(other) - set(english))
    assert not missing, f"web/locales/{code}.js misses {len(missing)} key(s) (English is shown instead): {missing}"
    assert not extra, f"web/locales/{code}.js has keys English lacks: {extra}"
    wrong = [key for key in english if set(PLACEHOLDER.findall(other[key])) != set(PLACEHOLDER.findall(english[key]))]
    assert not wrong, f"web/locales/{code}.js: placeholders differ from English in {wrong}"


def test_every_catalogue_is_offered_by_the_page():
    i18n = (WEB / "i18n.js").read_text(encoding="utf-8")
    html = (WEB / "index.html").read_text(encoding="utf-8")
    for code in LOCALES:
        assert (WEB / "locales" / f"{code}.js").exists(), f"web/locales/{code}.js is missing"
        assert re.search(rf'\b{code}: "', i18n), f"i18n.js LOCALES lacks {code}"
        assert f'<option value="{code}">' in html, f"the locale switch lacks {code}"
