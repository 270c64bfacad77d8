"""HTTP error answers of an OpenAI-compatible server -> one typed error per cause.

    >>> ctx = ErrorContext(url="http://localhost:8080/v1/chat/completions", base_url="http://localhost:8080/v1",
    ...                    model="smollm2", key_sent=True)
    >>> err = error_from_response(401, b'{"detail": "Invalid API key"}', {}, ctx)
    >>> type(err).__name__, err.message
    ('AuthError', 'localhost:8080 rejected the API key (HTTP 401): Invalid API key')
    >>> error_from_response(429, b"{}", {"retry-after": "7"}, ctx).retry_after
    7.0

The server's own words are quoted (shortened, with any API key masked), and every error carries a
hint that says what to do. The body formats understood: ``{"error": {"message", "code", "type"}}``,
``{"error": "text"}``, ``[{"error": ...}]`` (Gemini), ``{"detail": "text" | [{"msg"}]}`` (FastAPI),
``{"message": ...}``, plain text and HTML pages.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Mapping

from . import providers
from .errors import (
    AuthError, BadRequestError, BadURLError, ContextLengthError, NotFoundError, RateLimitError,
    RemoteError, ServerError, TimeoutError_,
)
from .keys import redact
from .openai_protocol import shorten
from .urls import host_of

__all__ = ["ErrorContext", "error_from_response", "server_message", "retry_after_seconds"]

_CONTEXT_WORDS = re.compile(
    r"context[ _-]?(length|window|size)|maximum context|too many tokens|prompt is too long|"
    r"exceeds? (the )?(model'?s? )?(max|context)|input is too long|reduce the length",
    re.IGNORECASE,
)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class ErrorContext:
    """What the request was, so that messages can name the server, the model and the key's source."""

    url: str
    base_url: str
    model: str = ""
    provider: providers.Provider = field(default_factory=lambda: providers.get("custom"))
    key_sent: bool = False
    key_source: str = "the API key field"
    secrets: tuple[str, ...] = ()

    @property
    def host(self) -> str:
        return host_of(self.base_url or self.url)


def server_message(body: bytes | str | None) -> tuple[str, str | None]:
    """(the server's message, its error code or type if any) from an error body."""
    if isinstance(body, (bytes, bytearray)):
        text = bytes(body).decode("utf-8", "replace")
    else:
        text = body or ""
    stripped = text.strip()
    if not stripped:
        return "", None
    try:
        data: Any = json.loads(stripped)
    except ValueError:
        if stripped.startswith("<"):
            title = _TITLE.search(stripped)
            return (f"an HTML page ({shorten(title.group(1), 80)})" if title else "an HTML page"), None
        return shorten(stripped), None
    if isinstance(data, list) and data:
        data = data[0]
    if not isinstance(data, dict):
        return shorten(stripped), None
    error = data.get("error", data)
    code = None
    if isinstance(error, str):
        message = error
        code = data.get("code") or data.get("type")
    elif isinstance(error, dict):
        message = error.get("message") or error.get("msg") or ""
        code = error.get("code") or error.get("type") or error.get("status")
        detail = error.get("detail")
        if not message and detail is not None:
            if isinstance(detail, list):  # FastAPI/pydantic validation errors
                message = "; ".join(
                    f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}".lstrip(": ")
                    for d in detail if isinstance(d, dict)
                ) or json.dumps(detail)
            else:
                message = str(detail)
        if not message:
            message = json.dumps(error, ensure_ascii=False) if error else ""
    else:
        message = str(error)
    return shorten(message), (str(code) if code not in (None, "") else None)


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``."""
    lower = {k.lower(): v for k, v in headers.items()}
    value = lower.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = (lower.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, round(when - (time.time() if now is None else now), 1))


def _said(message: str) -> str:
    return f": {message}" if message else ""


def error_from_response(
    status: int, body: bytes | str | None, headers: Mapping[str, str], ctx: ErrorContext
) -> RemoteError:
    """The typed error for an HTTP error answer (status >= 300)."""
    message, code = server_message(body)
    message = redact(message, *ctx.secrets)
    said = _said(message)
    host, preset, model = ctx.host, ctx.provider, ctx.model
    lower = (message + " " + (code or "")).lower()

    if 300 <= status < 400:
        location = {k.lower(): v for k, v in headers.items()}.get("location", "")
        return BadURLError(
            f"{host} redirects the request (HTTP {status}){' to ' + location if location else ''}.",
            hint="Use the address it redirects to as the base URL (often https:// instead of http://).",
        )
    if status == 401:
        if ctx.key_sent:
            return AuthError(
                f"{host} rejected the API key (HTTP 401){said}",
                hint=f"Check the key in {ctx.key_source}: it must be a valid key for {ctx.base_url}.",
            )
        get_key = f" Get one at {preset.key_url}." if preset.key_url else ""
        return AuthError(
            f"{host} needs an API key (HTTP 401){said}",
            hint=f"Set the key in {ctx.key_source}.{get_key}",
        )
    if status == 403:
        hint = (f"The key is known but may not do this: check that it may use model {model!r} "
                "(project, region, plan or permissions)." if ctx.key_sent else
                f"The server refuses this request without a key allowed to use it: set one in {ctx.key_source}.")
        if preset.id == "ollama":
            hint += " With Ollama, 403 also means this page's origin is not in OLLAMA_ORIGINS."
        return AuthError(f"{host} refused the request (HTTP 403){said}", hint=hint)
    if status == 404:
        if model and "model" in lower:
            return NotFoundError(
                f"Model {model!r} was not found on {host} (HTTP 404){said}",
                hint="Pick a model from the server's list (list models) or check the id's spelling.",
            )
        example = preset.base_url or "http://localhost:8080/v1"
        return NotFoundError(
            f"Nothing answers at {ctx.url} (HTTP 404){said}",
            hint=f"Check the base URL: it usually ends with /v1 (like {example}) and must not include "
                 "/chat/completions. Also check the model id.",
        )
    if status == 429:
        if "insufficient_quota" in lower or "billing" in lower or "credit" in lower:
            return RateLimitError(
                f"{host} says the account is out of quota or credits (HTTP 429){said}",
                hint="Check the plan and billing of the account this key belongs to.",
            )
        wait = retry_after_seconds(headers)
        when = f"Try again in {wait:g} s." if wait is not None else "Wait a moment and try again."
        return RateLimitError(f"{host} is limiting the request rate (HTTP 429){said}", hint=when, retry_after=wait)
    if status in (400, 413, 422):
        if code == "context_length_exceeded" or _CONTEXT_WORDS.search(message):
            return ContextLengthError(
                f"The conversation is too long for {('model ' + repr(model)) if model else 'the model'} "
                f"(HTTP {status}){said}",
                hint="Start a new chat, shorten the system prompt or the earlier messages, or lower max tokens.",
            )
        return BadRequestError(
            f"{host} rejected the request (HTTP {status}){said}",
            hint="Check the model id and the generation settings: this server may not accept one of them.",
        )
    if status in (408, 504, 524):
        return TimeoutError_(
            f"{host} gave up waiting for the reply (HTTP {status}){said}",
            hint="The server or a proxy in front of it timed out: try again, or ask for fewer tokens.",
        )
    if status >= 500:
        what = "is unavailable" if status == 503 else "failed"
        hint = ("It may be starting, loading the model or overloaded: try again shortly." if status == 503
                else "This is a problem on the server: try again, or check its log.")
        return ServerError(f"{host} {what} (HTTP {status}){said}", hint=hint)
    if 400 <= status < 500:
        return BadRequestError(
            f"{host} rejected the request (HTTP {status}){said}",
            hint="Check the base URL and that the server speaks the OpenAI chat-completions API.",
        )
    return ServerError(f"{host} answered with an unexpected status (HTTP {status}){said}")
