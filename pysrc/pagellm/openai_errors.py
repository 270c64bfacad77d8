"""HTTP error answers of an OpenAI-compatible server -> one typed error per cause.

    >>> ctx = ErrorContext(url="http://localhost:8080/v1/chat/completions", base_url="http://localhost:8080/v1",
    ...                    model="smollm2", key_sent=True)
    >>> err = error_from_response(401, b'{"detail": "Invalid API key"}', {}, ctx)
    >>> type(err).__name__, err.message
    ('AuthError', 'localhost:8080 rejected the API key (HTTP 401): Invalid API key')
    >>> err.status, err.host, err.server_message
    (401, 'localhost:8080', 'Invalid API key')
    >>> error_from_response(429, b"{}", {"retry-after": "7"}, ctx).retry_after
    7.0

The server's own words are quoted (shortened, with any API key masked), every error carries a hint
that says what to do, and the answer as data (``status``, ``host``, ``server_message``). Which error a
status means is the table ``STATUS_ERRORS``. The body formats understood:
``{"error": {"message", "code", "type"}}``, ``{"error": "text"}``, ``[{"error": ...}]`` (Gemini), ``{"detail": "text" | [{"msg"}]}`` (FastAPI),
``{"message": ...}``, plain text and HTML pages.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Mapping

from . import providers
from .errors import (
    AuthError, BadRequestError, BadURLError, ContextLengthError, NotFoundError, RateLimitError,
    RemoteError, RequestTimeoutError, ServerError,
)
from .keys import redact
from .openai_protocol import shorten
from .urls import host_of

__all__ = ["ErrorContext", "STATUS_ERRORS", "error_from_response", "server_message", "retry_after_seconds"]

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


@dataclass(frozen=True)
class _Answer:
    """An error answer as the builders below read it: the server's words already redacted."""

    status: int
    message: str
    code: str | None
    headers: Mapping[str, str]
    ctx: ErrorContext

    @property
    def said(self) -> str:
        return f": {self.message}" if self.message else ""

    @property
    def words(self) -> str:
        return (self.message + " " + (self.code or "")).lower()

    @property
    def data(self) -> dict:
        """What every error built from this answer carries (RemoteError's status, host, server_message)."""
        return {"status": self.status, "host": self.ctx.host, "server_message": self.message or None}


def _redirected(a: _Answer) -> RemoteError:
    location = {k.lower(): v for k, v in a.headers.items()}.get("location", "")
    return BadURLError(
        f"{a.ctx.host} redirects the request (HTTP {a.status}){' to ' + location if location else ''}.",
        hint="Use the address it redirects to as the base URL (often https:// instead of http://).", **a.data,
    )


def _unauthorised(a: _Answer) -> RemoteError:
    ctx = a.ctx
    if ctx.key_sent:
        return AuthError(
            f"{ctx.host} rejected the API key (HTTP 401){a.said}",
            hint=f"Check the key in {ctx.key_source}: it must be a valid key for {ctx.base_url}.", **a.data,
        )
    get_key = f" Get one at {ctx.provider.key_url}." if ctx.provider.key_url else ""
    return AuthError(f"{ctx.host} needs an API key (HTTP 401){a.said}",
                     hint=f"Set the key in {ctx.key_source}.{get_key}", **a.data)


def _forbidden(a: _Answer) -> RemoteError:
    ctx = a.ctx
    hint = (f"The key is known but may not do this: check that it may use model {ctx.model!r} "
            "(project, region, plan or permissions)." if ctx.key_sent else
            f"The server refuses this request without a key allowed to use it: set one in {ctx.key_source}.")
    if ctx.provider.id == "ollama":
        hint += " With Ollama, 403 also means this page's origin is not in OLLAMA_ORIGINS."
    return AuthError(f"{ctx.host} refused the request (HTTP 403){a.said}", hint=hint, **a.data)


def _not_found(a: _Answer) -> RemoteError:
    ctx = a.ctx
    if ctx.model and "model" in a.words:
        return NotFoundError(
            f"Model {ctx.model!r} was not found on {ctx.host} (HTTP 404){a.said}",
            hint="Pick a model from the server's list (list models) or check the id's spelling.", **a.data,
        )
    example = ctx.provider.base_url or "http://localhost:8080/v1"
    return NotFoundError(
        f"Nothing answers at {ctx.url} (HTTP 404){a.said}",
        hint=f"Check the base URL: it usually ends with /v1 (like {example}) and must not include "
             "/chat/completions. Also check the model id.", **a.data,
    )


def _rate_limited(a: _Answer) -> RemoteError:
    host = a.ctx.host
    if "insufficient_quota" in a.words or "billing" in a.words or "credit" in a.words:
        return RateLimitError(
            f"{host} says the account is out of quota or credits (HTTP 429){a.said}",
            hint="Check the plan and billing of the account this key belongs to.", **a.data,
        )
    wait = retry_after_seconds(a.headers)
    when = f"Try again in {wait:g} s." if wait is not None else "Wait a moment and try again."
    return RateLimitError(f"{host} is limiting the request rate (HTTP 429){a.said}", hint=when, retry_after=wait,
                          **a.data)


def _rejected(a: _Answer) -> RemoteError:
    model = a.ctx.model
    if a.code == "context_length_exceeded" or _CONTEXT_WORDS.search(a.message):
        return ContextLengthError(
            f"The conversation is too long for {('model ' + repr(model)) if model else 'the model'} "
            f"(HTTP {a.status}){a.said}",
            hint="Start a new chat, shorten the system prompt or the earlier messages, or lower max tokens.", **a.data,
        )
    return BadRequestError(
        f"{a.ctx.host} rejected the request (HTTP {a.status}){a.said}",
        hint="Check the model id and the generation settings: this server may not accept one of them.", **a.data,
    )


def _timed_out(a: _Answer) -> RemoteError:
    return RequestTimeoutError(
        f"{a.ctx.host} gave up waiting for the reply (HTTP {a.status}){a.said}",
        hint="The server or a proxy in front of it timed out: try again, or ask for fewer tokens.", **a.data,
    )


def _server_failed(a: _Answer) -> RemoteError:
    what = "is unavailable" if a.status == 503 else "failed"
    hint = ("It may be starting, loading the model or overloaded: try again shortly." if a.status == 503
            else "This is a problem on the server: try again, or check its log.")
    return ServerError(f"{a.ctx.host} {what} (HTTP {a.status}){a.said}", hint=hint, **a.data)


def _client_error(a: _Answer) -> RemoteError:
    return BadRequestError(
        f"{a.ctx.host} rejected the request (HTTP {a.status}){a.said}",
        hint="Check the base URL and that the server speaks the OpenAI chat-completions API.", **a.data,
    )


def _unexpected(a: _Answer) -> RemoteError:
    return ServerError(f"{a.ctx.host} answered with an unexpected status (HTTP {a.status}){a.said}", **a.data)


# HTTP status -> the builder of its error, as openai-python's _make_status_error maps statuses to
# exception classes; statuses not listed fall into their range (3xx, other 4xx, 5xx).
STATUS_ERRORS: Mapping[int, Callable[[_Answer], RemoteError]] = {
    400: _rejected, 401: _unauthorised, 403: _forbidden, 404: _not_found, 408: _timed_out, 413: _rejected,
    422: _rejected, 429: _rate_limited, 504: _timed_out, 524: _timed_out,
}


def _builder(status: int) -> Callable[[_Answer], RemoteError]:
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    if 300 <= status < 400:
        return _redirected
    if status >= 500:
        return _server_failed
    if 400 <= status < 500:
        return _client_error
    return _unexpected


def error_from_response(
    status: int, body: bytes | str | None, headers: Mapping[str, str], ctx: ErrorContext
) -> RemoteError:
    """The typed error for an HTTP error answer (status >= 300), carrying its status, host and server message."""
    message, code = server_message(body)
    return _builder(status)(_Answer(status, redact(message, *ctx.secrets), code, headers, ctx))
