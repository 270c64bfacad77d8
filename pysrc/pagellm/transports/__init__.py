"""How bytes travel: a small interface with one implementation per environment.

    transport = default_transport()              # BrowserTransport in Pyodide, HttpxTransport on CPython
    response = await transport.open(Request("GET", "http://localhost:11434/v1/models"))
    try:
        print(response.status, await response.read())
    finally:
        await response.aclose()

A transport turns failures to reach the server into typed errors (``NetworkError``,
``RequestTimeoutError``, ``CORSError``, ``MixedContentError``; ``StreamCutError`` when the body breaks off)
and reports HTTP statuses as they are: mapping a 4xx/5xx to an error is the caller's job.
``Response.abort()`` may be called from another task to stop a body being read; the pending read
then raises ``Cancelled`` (or the reading task is cancelled by the engine).

Also here: pure helpers that build the browser's messages (mixed content, "Failed to fetch").
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import AsyncIterator, Protocol

from .. import providers
from ..errors import CORSError, MixedContentError, NetworkError
from ..urls import host_of, is_loopback, is_private

__all__ = [
    "Request", "Response", "Transport", "default_transport",
    "mixed_content_error", "fetch_failed_error",
]


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    timeout: float = 60.0          # seconds without a byte from the server (headers, then each chunk)
    connect_timeout: float = 10.0  # seconds to open the connection

    def __repr__(self) -> str:  # never show header values: one of them may be the key
        return f"Request({self.method} {self.url}, headers={sorted(self.headers)})"


class Response(Protocol):
    status: int
    headers: dict[str, str]  # lower-case names

    def chunks(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk, as the server sends it."""

    async def read(self, limit: int = 1 << 20) -> bytes:
        """The whole body (at most ``limit`` bytes are kept)."""

    def abort(self) -> None:
        """Stop the transfer now (from any task); a pending read fails with ``Cancelled``."""

    async def aclose(self) -> None:
        """Release the connection; safe to call twice."""


class Transport(Protocol):
    async def open(self, request: Request) -> Response:
        """Send the request and return once the status and headers have arrived."""

    async def aclose(self) -> None:
        """Close pooled connections."""


async def read_body(chunks: AsyncIterator[bytes], limit: int = 1 << 20) -> bytes:
    """A whole (error) body, kept to ``limit`` bytes but read to the end so the connection can close."""
    data = bytearray()
    async for chunk in chunks:
        if len(data) < limit:
            data += chunk[: limit - len(data)]
    return bytes(data)


def default_transport() -> Transport:
    """The browser's fetch under Pyodide, httpx elsewhere."""
    if sys.platform == "emscripten":
        from .browser import BrowserTransport
        return BrowserTransport()
    from .httpx_transport import HttpxTransport
    return HttpxTransport()


# -- pure helpers for the browser's failures -------------------------------------------------

def mixed_content_error(page_url: str | None, url: str) -> MixedContentError | None:
    """The error an https page meets calling a plain-http endpoint that is not loopback, else None."""
    if not page_url or not page_url.startswith("https:") or not url.startswith("http:") or is_loopback(url):
        return None
    origin = "http://" + url[len("http://"):].split("/", 1)[0]
    return MixedContentError(
        f"This page was loaded over https, so the browser blocks calls to the plain-http server {origin}.",
        hint="Serve the endpoint over https (and use https:// in the base URL), reach it as http://localhost "
             "through a tunnel or port forward, or open this page over http (for example python build.py serve).",
    )


def fetch_failed_error(
    url: str,
    *,
    origin: str | None,
    page_url: str | None = None,
    provider: "str | providers.Provider | None" = None,
    reachable: bool | None = None,
    detail: str = "",
) -> NetworkError:
    """The error for the browser's bare "Failed to fetch".

    The browser does not say why. ``reachable`` is what a follow-up no-cors probe found: True means
    the server answers but not to this page (CORS), False means nothing answers at all (network),
    None means unknown, and the message then names both causes, CORS first.
    """
    preset = providers.get(provider) if provider is not None else providers.guess(url)
    if preset.id == "custom":
        preset = providers.guess(url)
    host = host_of(url)
    cors_fix = preset.cors_help(origin)
    local_access = ""
    if is_private(url) and page_url and not is_private(page_url):
        local_access = (" If the browser asked whether this site may access devices on your local network, "
                        "allow it (site settings > Local network access).")
    said = f" ({detail})" if detail else ""
    if reachable is False:
        return NetworkError(
            f"Could not reach {host}{said}: nothing answered.",
            hint="Check that the server is running, the host and port in the base URL, and your network."
                 + local_access,
        )
    if reachable is True:
        return CORSError(
            f"{host} answered, but the browser blocked the reply: the server does not allow calls from "
            f"{origin or 'this page'} (CORS){said}.",
            hint=cors_fix + local_access,
        )
    return CORSError(
        f"The browser could not call {host}{said}: either the server does not allow calls from "
        f"{origin or 'this page'} (CORS), or it is not reachable.",
        hint=f"If the server is running: {cors_fix} Otherwise check the host, port and that the server is up."
             + local_access,
    )
