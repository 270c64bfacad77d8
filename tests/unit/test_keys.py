"""The key ring: a key is handed back only for the endpoint it was entered for, and never shown."""

from __future__ import annotations

import copy
import logging
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pagellm import errors
from pagellm.keys import KeyRing, endpoint_of, mask, redact

KEY = "sk-proj-abcdefghijklmnopqrstuvwx1234"


@pytest.mark.parametrize("url, expected", [
    ("https://api.openai.com/v1", "https://api.openai.com/v1"),
    ("https://API.OpenAI.com:443/v1/", "https://api.openai.com/v1"),
    ("HTTPS://api.openai.com/v1?x=1#frag", "https://api.openai.com/v1"),
    ("https://user:pw@api.openai.com/v1", "https://api.openai.com/v1"),
    ("http://localhost:80/v1", "http://localhost/v1"),
    ("http://localhost:8080/v1", "http://localhost:8080/v1"),
    ("http://[::1]:8080/v1/", "http://[::1]:8080/v1"),
    ("  http://127.0.0.1:11434/v1  ", "http://127.0.0.1:11434/v1"),
])
def test_endpoint_normalisation(url, expected):
    assert endpoint_of(url) == expected


@pytest.mark.parametrize("url", ["", "api.openai.com/v1", "ftp://x/v1", "http://", "http://host:99999/v1"])
def test_endpoint_of_rejects_non_http(url):
    with pytest.raises(errors.BadURLError):
        endpoint_of(url)


def test_key_only_for_its_endpoint():
    ring = KeyRing()
    ring.set("https://api.openai.com/v1", KEY)
    assert ring.get("https://api.openai.com/v1/") == KEY
    for other in ("http://api.openai.com/v1",            # scheme differs
                  "https://api.openai.com:8443/v1",      # port differs
                  "https://api.openai.com/v2",           # path differs
                  "https://api.openai.com",              # parent path
                  "https://api.openai.com/v1/extra",     # child path
                  "https://api.openai.com.evil.example/v1",
                  "https://evil.example/v1?u=https://api.openai.com/v1",
                  "not a url"):
        assert ring.get(other) is None, other
        assert not ring.has(other)


def test_one_key_per_endpoint_and_forgetting():
    ring = KeyRing()
    ring.set("http://localhost:8000/v1", "key-one-aaaaaaaaaaaa")
    ring.set("http://localhost:8000/v1/", "key-two-bbbbbbbbbbbb")
    assert ring.get("http://localhost:8000/v1") == "key-two-bbbbbbbbbbbb" and len(ring) == 1
    ring.set("http://localhost:8000/v1", "")
    assert ring.get("http://localhost:8000/v1") is None
    ring.set("http://localhost:8000/v1", "x" * 20)
    ring.forget("http://localhost:8000/v1")
    assert len(ring) == 0


def test_remember_defaults_to_false():
    ring = KeyRing()
    ring.set("https://api.groq.com/openai/v1", KEY)
    ring.set("https://router.huggingface.co/v1", "hf_abcdefghijklmnopqrst", remember=True)
    assert not ring.is_remembered("https://api.groq.com/openai/v1")
    assert ring.remembered() == {"https://router.huggingface.co/v1": "hf_abcdefghijklmnopqrst"}


def test_restore_round_trip_and_skips_junk():
    ring = KeyRing()
    ring.restore({"https://router.huggingface.co/v1": "hf_abcdefghijklmnopqrst", "junk": "x", "http://h/v1": ""})
    assert ring.get("https://router.huggingface.co/v1") == "hf_abcdefghijklmnopqrst"
    assert ring.is_remembered("https://router.huggingface.co/v1") and len(ring) == 1


def test_keys_with_spaces_are_refused_without_echoing_them():
    ring = KeyRing()
    with pytest.raises(errors.BadURLError) as info:
        ring.set("https://api.openai.com/v1", "sk-abc def-ghijklmnopqrs")
    assert "sk-abc" not in str(info.value)
    ring.set("https://api.openai.com/v1", f"  {KEY}\n")  # surrounding whitespace from a paste is trimmed
    assert ring.get("https://api.openai.com/v1") == KEY


def test_repr_str_and_logging_never_show_the_key(caplog):
    ring = KeyRing()
    ring.set("https://api.openai.com/v1", KEY, remember=True)
    for text in (repr(ring), str(ring), f"{ring}", repr(ring._keys)):
        assert KEY not in text and KEY[:12] not in text
    assert "sk-…1234" in repr(ring)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("t").info("ring %s %r", ring, ring)
    assert KEY not in caplog.text


def test_no_pickling_or_deep_copy_of_keys():
    ring = KeyRing()
    ring.set("https://api.openai.com/v1", KEY)
    with pytest.raises(TypeError):
        pickle.dumps(ring)
    with pytest.raises(TypeError):
        copy.deepcopy(ring)


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
