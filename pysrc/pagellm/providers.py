"""Provider presets for OpenAI-compatible endpoints: data, not code paths.

    >>> preset = get("ollama")
    >>> preset.base_url, preset.needs_key, preset.params["max_new_tokens"]
    ('http://localhost:11434/v1', False, 'max_tokens')
    >>> guess("http://127.0.0.1:1234/v1").id
    'lmstudio'

Each preset says where the server lives, whether it needs a key (and which environment variable the
terminal client reads it from), an example model id, which of our generation settings it accepts
and under which wire name (``params``: setting name -> request field), and what to do when a browser
page is refused by CORS (``cors_fix``, with ``{origin}`` standing for the page's origin).

``cors`` is what is known about calls from a web page: ``"allowed"`` (the server answers CORS for
any origin by default), ``"config"`` (the server must be told to allow the page's origin),
``"header"`` (the request must carry ``browser_headers``), ``"unknown"`` (not verified here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping
from urllib.parse import urlsplit

from .errors import InputError
from .urls import host_port

__all__ = ["Provider", "PROVIDERS", "get", "guess", "STANDARD_PARAMS"]

# Setting name (GenerationSettings) -> request field, for what every OpenAI-compatible server takes.
STANDARD_PARAMS = MappingProxyType({
    "temperature": "temperature",
    "top_p": "top_p",
    "max_new_tokens": "max_tokens",
    "stop": "stop",
    "seed": "seed",
})
CORS_KINDS = ("allowed", "config", "header", "unknown")
KEY_KINDS = ("required", "optional", "none")

_GENERIC_CORS_FIX = (
    "The server must answer CORS for {origin}: send Access-Control-Allow-Origin for that origin, and "
    "answer the preflight OPTIONS request allowing POST and the Authorization and Content-Type headers. "
    "If it cannot, use the terminal client (python -m pagellm) or put a proxy that adds these headers in front."
)


def _params(*, drop: tuple[str, ...] = (), **extra: str) -> Mapping[str, str]:
    params = {k: v for k, v in STANDARD_PARAMS.items() if k not in drop}
    params.update(extra)
    return MappingProxyType(params)


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    base_url: str
    key: str                      # "required" | "optional" | "none"
    key_env: str | None           # environment variable the terminal client reads the key from
    example_model: str
    params: Mapping[str, str]     # setting -> wire field; settings not listed are not sent
    cors: str                     # see CORS_KINDS
    cors_fix: str                 # what to change when a page is refused; "{origin}" is filled in
    local: bool = False           # runs on the user's machine or LAN (no cloud account)
    key_url: str | None = None    # where to get a key
    browser_headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    stream_usage: bool = True     # send stream_options.include_usage
    max_stop: int | None = None   # how many stop strings the server accepts
    model_optional: bool = False  # the server serves its loaded model whatever the request names
    notes: str = ""

    def __post_init__(self):
        assert self.key in KEY_KINDS and self.cors in CORS_KINDS, self.id

    @property
    def needs_key(self) -> bool:
        return self.key == "required"

    def cors_help(self, origin: str | None) -> str:
        return self.cors_fix.replace("{origin}", origin or "this page's origin")

    def to_dict(self) -> dict:
        return {
            "id": self.id, "name": self.name, "base_url": self.base_url, "key": self.key,
            "needs_key": self.needs_key, "key_env": self.key_env, "example_model": self.example_model,
            "params": dict(self.params), "cors": self.cors, "cors_fix": self.cors_fix, "local": self.local,
            "key_url": self.key_url, "browser_headers": dict(self.browser_headers),
            "model_optional": self.model_optional, "notes": self.notes,
        }


_PRESETS = [
    Provider(
        id="openai", name="OpenAI", base_url="https://api.openai.com/v1",
        key="required", key_env="OPENAI_API_KEY", example_model="gpt-4o-mini",
        # Reasoning models reject max_tokens; max_completion_tokens works for every current model.
        params=_params(max_new_tokens="max_completion_tokens"), max_stop=4,
        cors="allowed", cors_fix=_GENERIC_CORS_FIX, key_url="https://platform.openai.com/api-keys",
        notes="Answers browser calls; a key typed into a page is visible to that page.",
    ),
    Provider(
        id="anthropic", name="Anthropic (OpenAI-compatible)", base_url="https://api.anthropic.com/v1",
        key="required", key_env="ANTHROPIC_API_KEY", example_model="claude-haiku-4-5",
        # temperature above 1 is capped at 1; seed is ignored, so it is not sent.
        params=_params(drop=("seed",)),
        cors="header",
        browser_headers=MappingProxyType({"anthropic-dangerous-direct-browser-access": "true"}),
        cors_fix=("Anthropic answers browser calls only when the request carries the header "
                  "'anthropic-dangerous-direct-browser-access: true' (pagellm sends it from a page); "
                  "if it is still refused, use the terminal client."),
        key_url="https://console.anthropic.com/settings/keys",
        notes="Anthropic's OpenAI SDK compatibility layer; reasoning text is not returned by it.",
    ),
    Provider(
        id="gemini", name="Google Gemini (OpenAI-compatible)",
        base_url="https://generativelanguage.googleapis.com/v1beta/openai",
        key="required", key_env="GEMINI_API_KEY", example_model="gemini-2.5-flash",
        params=_params(drop=("seed",)),
        cors="allowed", cors_fix=_GENERIC_CORS_FIX, key_url="https://aistudio.google.com/apikey",
    ),
    Provider(
        id="qwen", name="Alibaba Qwen (DashScope compatible mode)",
        base_url="https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        key="required", key_env="DASHSCOPE_API_KEY", example_model="qwen-plus",
        params=_params(top_k="top_k", repetition_penalty="repetition_penalty"),
        cors="unknown", cors_fix=_GENERIC_CORS_FIX,
        notes="International endpoint; in mainland China use https://dashscope.aliyuncs.com/compatible-mode/v1. "
              "Thinking models stream reasoning_content.",
    ),
    Provider(
        id="together", name="Together AI", base_url="https://api.together.xyz/v1",
        key="required", key_env="TOGETHER_API_KEY", example_model="meta-llama/Llama-3.3-70B-Instruct-Turbo",
        params=_params(top_k="top_k", repetition_penalty="repetition_penalty"),
        cors="unknown", cors_fix=_GENERIC_CORS_FIX, key_url="https://api.together.ai/settings/api-keys",
    ),
    Provider(
        id="fireworks", name="Fireworks AI", base_url="https://api.fireworks.ai/inference/v1",
        key="required", key_env="FIREWORKS_API_KEY",
        example_model="accounts/fireworks/models/llama-v3p1-8b-instruct",
        params=_params(drop=("seed",), top_k="top_k", repetition_penalty="repetition_penalty"),
        cors="unknown", cors_fix=_GENERIC_CORS_FIX, key_url="https://fireworks.ai/account/api-keys",
    ),
    Provider(
        id="groq", name="Groq", base_url="https://api.groq.com/openai/v1",
        key="required", key_env="GROQ_API_KEY", example_model="llama-3.1-8b-instant",
        params=_params(), max_stop=4,
        cors="allowed", cors_fix=_GENERIC_CORS_FIX, key_url="https://console.groq.com/keys",
        notes="Token counts may come in the last chunk's x_groq.usage.",
    ),
    Provider(
        id="huggingface", name="Hugging Face (Inference Providers router)",
        base_url="https://router.huggingface.co/v1",
        key="required", key_env="HF_TOKEN", example_model="meta-llama/Llama-3.1-8B-Instruct",
        params=_params(),
        cors="allowed", cors_fix=_GENERIC_CORS_FIX, key_url="https://huggingface.co/settings/tokens",
        notes="The key is a Hugging Face access token with the 'Make calls to Inference Providers' permission.",
    ),
    Provider(
        id="ollama", name="Ollama", base_url="http://localhost:11434/v1",
        key="none", key_env=None, example_model="llama3.2", local=True,
        params=_params(),
        cors="config",
        cors_fix=("Ollama answers only localhost pages by default. Restart it with this page's origin "
                  "allowed: OLLAMA_ORIGINS={origin} ollama serve (for the desktop app or the system "
                  "service, set OLLAMA_ORIGINS in its environment, then restart Ollama)."),
        notes="Pull the model first: ollama pull llama3.2.",
    ),
    Provider(
        id="lmstudio", name="LM Studio", base_url="http://localhost:1234/v1",
        key="none", key_env=None, example_model="qwen2.5-7b-instruct", local=True,
        params=_params(top_k="top_k", repetition_penalty="repeat_penalty"),
        cors="config",
        cors_fix=("Turn on 'Enable CORS' in LM Studio's server settings (Developer tab), or start the "
                  "server with: lms server start --cors."),
        notes="Start the server in the Developer tab (or lms server start) and load a model.",
    ),
    Provider(
        id="vllm", name="vLLM", base_url="http://localhost:8000/v1",
        key="optional", key_env="VLLM_API_KEY", example_model="Qwen/Qwen2.5-1.5B-Instruct", local=True,
        params=_params(top_k="top_k", repetition_penalty="repetition_penalty"),
        cors="allowed",
        cors_fix=("vLLM allows every origin unless started with --allowed-origins; add this page's origin: "
                  "vllm serve MODEL --allowed-origins '[\"{origin}\"]'."),
        notes="The key is the --api-key the server was started with, if any.",
    ),
    Provider(
        id="text-generation-webui", name="text-generation-webui", base_url="http://127.0.0.1:5000/v1",
        key="optional", key_env=None, example_model="", local=True, model_optional=True,
        params=_params(top_k="top_k", repetition_penalty="repetition_penalty"),
        cors="allowed",
        cors_fix=("Start text-generation-webui with --api (its OpenAI-compatible API on port 5000 allows any "
                  "origin; add --listen to reach it from another machine)."),
        notes="Answers with the model loaded in its UI; the model field may stay empty.",
    ),
    Provider(
        id="llamacpp", name="llama.cpp server", base_url="http://127.0.0.1:8080/v1",
        key="optional", key_env=None, example_model="", local=True, model_optional=True,
        params=_params(top_k="top_k", repetition_penalty="repeat_penalty"),
        cors="allowed",
        cors_fix=("llama.cpp's llama-server allows every origin unless it was started with --cors-origins; add "
                  "{origin} there. (llama-cpp-python's server, python -m llama_cpp.server, allows any origin.)"),
        notes="llama-server listens on port 8080, llama-cpp-python's server on 8000. The key is the one the "
              "server was started with (--api-key). It answers with the model it loaded.",
    ),
    Provider(
        id="custom", name="Custom (any OpenAI-compatible server)", base_url="",
        key="optional", key_env=None, example_model="",
        params=_params(), cors="unknown", cors_fix=_GENERIC_CORS_FIX,
        notes="Only the standard sampling settings are sent (temperature, top_p, max_tokens, stop, seed).",
    ),
]

PROVIDERS: Mapping[str, Provider] = MappingProxyType({p.id: p for p in _PRESETS})


def get(provider: "str | Provider") -> Provider:
    """The preset with this id (a Provider passes through)."""
    if isinstance(provider, Provider):
        return provider
    try:
        return PROVIDERS[provider]
    except KeyError:
        raise InputError(f"Unknown provider {provider!r}: use one of {', '.join(PROVIDERS)}.") from None


def guess(base_url: str) -> Provider:
    """The preset a base URL most likely belongs to (for its CORS advice), else ``custom``."""
    host, port = host_port(base_url)
    if not host:
        return PROVIDERS["custom"]
    for preset in _PRESETS:
        if preset.base_url and not preset.local and host_port(preset.base_url)[0] == host:
            return preset
    for preset in _PRESETS:
        if preset.local and host_port(preset.base_url)[1] == port:
            return preset
    return PROVIDERS["custom"]


def same_server(preset: Provider, base_url: str) -> bool:
    """True when ``base_url`` is on the preset's own host (a cloud preset's key may go there)."""
    if not preset.base_url or preset.local:
        return False
    p, u = urlsplit(preset.base_url), urlsplit(base_url)
    return (p.scheme, host_port(preset.base_url)) == (u.scheme, host_port(base_url))
