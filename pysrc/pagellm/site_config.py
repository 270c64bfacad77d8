"""A deployed copy's own settings (``site.toml`` beside build.py): title, tagline, system prompt, starter
prompts, default model and device, default remote provider and base URL, locale, and named presets that a
link picks with ``?preset=NAME``. Never an API key: a key in the file is refused. The build writes the
checked result as ``site.json`` for the page.

    >>> config = parse_site_config('title = "Museum guide"\\nstarter_prompts = ["Who painted this?"]\\n'
    ...                            '[presets.kids]\\nsystem_prompt = "Answer simply."\\n')
    >>> config["title"], config["starter_prompts"], config["presets"]["kids"]["system_prompt"]
    ('Museum guide', ['Who painted this?'], 'Answer simply.')
    >>> parse_site_config('title = 3\\n')
    Traceback (most recent call last):
    pagellm.errors.InputError: site.toml, line 1, field 'title': expected text, got 3.
"""

from __future__ import annotations

import re
import tomllib

from .errors import InputError

DEFAULTS: dict = {
    "title": "pagellm",
    "tagline": "A chat model running in this page — nothing leaves your machine unless you switch to a remote endpoint.",
    "system_prompt": "",
    "starter_prompts": [
        "Write a short poem about the sea.",
        "Give me three tips for sleeping better.",
        "Explain what a rainbow is to a child.",
        "Suggest five names for a friendly robot.",
    ],
    "model": "",          # a catalog id; "" is the catalog's default
    "device": "auto",     # auto | webgpu | wasm
    "locale": "",         # "" follows the browser's language
    "provider": "",       # a remote preset id offered first; "" keeps the page's choice
    "base_url": "",
}
DEVICES = ("auto", "webgpu", "wasm")
SECRET_WORDS = ("key", "token", "secret", "password")
MAX_STARTERS = 8


def _line_of(text: str, field: str) -> int:
    """The first line that sets ``field`` (for messages; 1 when it cannot be found)."""
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*{re.escape(field)}\s*=", line):
            return number
    return 1


def _check(values: dict, text: str, where: str) -> dict:
    checked = {}
    for field, value in values.items():
        line = _line_of(text, field)
        place = f"site.toml, line {line}, field '{where}{field}'"
        if any(word in field.lower() for word in SECRET_WORDS):
            raise InputError(f"{place}: a deployed site must not carry secrets; users type their own key.")
        if field not in DEFAULTS:
            raise InputError(f"{place}: unknown field (known: {', '.join(DEFAULTS)}).")
        if field == "starter_prompts":
            if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
                raise InputError(f"{place}: expected a list of non-empty texts.")
            if len(value) > MAX_STARTERS:
                raise InputError(f"{place}: at most {MAX_STARTERS} starter prompts, got {len(value)}.")
        elif not isinstance(value, str):
            raise InputError(f"{place}: expected text, got {value!r}.")
        if field == "device" and value not in DEVICES:
            raise InputError(f"{place}: expected one of {', '.join(DEVICES)}, got {value!r}.")
        checked[field] = value
    return checked


def parse_site_config(text: str) -> dict:
    """The site's settings (defaults filled in) and its presets, checked; InputError names line and field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"site.toml is not valid TOML: {err}.") from None
    presets = data.pop("presets", {})
    if not isinstance(presets, dict) or not all(isinstance(p, dict) for p in presets.values()):
        raise InputError("site.toml, field 'presets': presets are tables, [presets.NAME].")
    config = {**DEFAULTS, **_check(data, text, "")}
    config["presets"] = {}
    for name, values in presets.items():
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", name):
            raise InputError(f"site.toml: preset name {name!r}: use lowercase letters, digits and dashes.")
        config["presets"][name] = _check(values, text, f"presets.{name}.")
    return config
