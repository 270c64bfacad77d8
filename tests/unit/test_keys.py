"""API keys are never shown: masked in every message, redacted from what a server echoes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pagellm.keys import mask, redact

KEY = "sk-proj-abcdefghijklmnopqrstuvwx1234"


@pytest.mark.parametrize("key, shown", [
    (None, "(none)"), ("", "(none)"), ("short", "••••"), ("abcdefghijklmnop", "…mnop"),
    (KEY, "sk-…1234"), ("sk-ant-api03-zzzzzzzzzzzzzzzz9876", "sk-ant-…9876"), ("hf_aaaaaaaaaaaaaaaaaaaa", "hf_…aaaa"),
])
def test_mask(key, shown):
    assert mask(key) == shown


@given(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=16, max_size=64))
def test_mask_never_reveals_more_than_four_plus_a_known_prefix(key):
    shown = mask(key)
    assert key not in shown and len(shown.replace("…", "")) <= 11


def test_redact_whole_and_partial_echoes():
    text = f"Incorrect API key provided: {KEY}. Also {KEY[:14]}… and {KEY[5:25]}"
    out = redact(text, KEY, None, "")
    assert KEY not in out and KEY[5:25] not in out and KEY[:14] not in out
    assert redact("nothing secret here", KEY) == "nothing secret here"
