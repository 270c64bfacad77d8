"""Provider presets are data: complete, consistent, and usable by the protocol layer."""

from __future__ import annotations

import re

import pytest

from pagellm import errors
from pagellm.openai_protocol import chat_request
from pagellm.providers import PROVIDERS, STANDARD_PARAMS, Provider, get, guess, same_server
from pagellm.urls import validate_base_url
from pagellm.settings import GenerationSettings

EXPECTED_IDS = ["openai", "anthropic", "gemini", "qwen", "together", "fireworks", "groq", "huggingface", "ollama",
                "lmstudio", "vllm", "text-generation-webui", "llamacpp", "custom"]
SETTING_NAMES = {"temperature", "top_p", "top_k", "max_new_tokens", "repetition_penalty", "stop", "seed"}


def test_all_presets_the_page_offers_in_order():
    assert list(PROVIDERS) == EXPECTED_IDS


@pytest.mark.parametrize("preset", PROVIDERS.values(), ids=lambda p: p.id)
def test_preset_is_complete(preset: Provider):
    assert preset.name and preset.cors_fix
    assert preset.key in ("required", "optional", "none")
    assert preset.cors in ("allowed", "config", "header", "unknown")
    assert set(preset.params) <= SETTING_NAMES
    assert {"temperature", "max_new_tokens"} <= set(preset.params)
    if preset.id != "custom":
        assert validate_base_url(preset.base_url) == preset.base_url
    if preset.needs_key:
        assert preset.key_env and re.fullmatch(r"[A-Z][A-Z0-9_]*", preset.key_env)
        assert not preset.local
    if preset.key == "none":
        assert preset.key_env is None
    if not preset.model_optional and preset.id != "custom":
        assert preset.example_model
    # the body builds for every preset
    model = preset.example_model or ("" if preset.model_optional else "some-model")
    body = chat_request([{"role": "user", "content": "hi"}], model, GenerationSettings(), preset)
    assert body["stream"] is True


def test_cloud_presets_use_https_and_local_ones_loopback():
    for preset in PROVIDERS.values():
        if preset.local:
            assert preset.base_url.startswith("http://") and ("localhost" in preset.base_url or "127.0.0.1" in preset.base_url)
        elif preset.base_url:
            assert preset.base_url.startswith("https://")


def test_cors_fixes_name_the_right_switch():
    assert "OLLAMA_ORIGINS" in get("ollama").cors_fix
    assert "Enable CORS" in get("lmstudio").cors_fix
    assert "--allowed-origins" in get("vllm").cors_fix
    assert "--cors" in get("llamacpp").cors_fix
    assert "--api" in get("text-generation-webui").cors_fix
    anthropic = get("anthropic")
    assert anthropic.cors == "header"
    assert anthropic.browser_headers == {"anthropic-dangerous-direct-browser-access": "true"}


def test_cors_help_fills_in_the_origin():
    assert "OLLAMA_ORIGINS=https://me.github.io" in get("ollama").cors_help("https://me.github.io")
    assert "this page's origin" in get("ollama").cors_help(None)


def test_sampling_params_are_data():
    assert get("lmstudio").params["repetition_penalty"] == "repeat_penalty"
    assert get("llamacpp").params["repetition_penalty"] == "repeat_penalty"
    assert get("vllm").params["repetition_penalty"] == "repetition_penalty"
    assert "top_k" not in get("openai").params and "top_k" in get("vllm").params
    assert dict(get("custom").params) == dict(STANDARD_PARAMS)


def test_presets_are_read_only():
    with pytest.raises(Exception):
        get("openai").base_url = "https://evil.example/v1"
    with pytest.raises(TypeError):
        get("openai").params["top_k"] = "top_k"


def test_get_unknown_lists_the_choices():
    with pytest.raises(errors.InputError, match="ollama"):
        get("olama")
    assert get(get("groq")).id == "groq"


@pytest.mark.parametrize("url, expected", [
    ("https://api.openai.com/v1", "openai"),
    ("https://api.groq.com/openai/v1", "groq"),
    ("http://localhost:11434/v1", "ollama"),
    ("http://127.0.0.1:11434/v1", "ollama"),
    ("http://192.168.1.20:1234/v1", "lmstudio"),
    ("http://localhost:5000/v1", "text-generation-webui"),
    ("http://localhost:8080/v1", "llamacpp"),
    ("https://example.org/v1", "custom"),
    ("not a url", "custom"),
])
def test_guess(url, expected):
    assert guess(url).id == expected


def test_same_server_is_strict():
    openai = get("openai")
    assert same_server(openai, "https://api.openai.com/v1")
    assert same_server(openai, "https://api.openai.com:443/v1/")
    assert not same_server(openai, "http://api.openai.com/v1")
    assert not same_server(openai, "https://api.openai.com.evil.example/v1")
    assert not same_server(get("ollama"), "http://localhost:11434/v1")  # local presets have no default key
    assert not same_server(get("custom"), "https://api.openai.com/v1")


def test_to_dict_is_json_ready():
    import json
    data = json.loads(json.dumps(get("anthropic").to_dict()))
    assert data["needs_key"] is True and data["params"]["max_new_tokens"] == "max_tokens"
