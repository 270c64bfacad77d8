"""A scripted transport for tests: no sockets, every request recorded.

    transport = MockTransport([
        MockResponse.sse([{"choices": [{"delta": {"content": "Hi"}, "finish_reason": "stop"}]}]),
        MockResponse.json({"error": {"message": "Invalid API key"}}, status=401),
    ])
    engine = RemoteEngine("http://test/v1", "m", transport=transport)
    ...
    transport.requests[0].headers["authorization"]

A script is a list of responses (used in order) or a function ``request -> MockResponse``. A
response can fail before the headers (``error=``), break off after some chunks
(``error_after=``), or pause before the headers (``open_delay=``) or between chunks (``delay=``)
so a test can cancel at that point.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterable

from ..errors import Cancelled
from . import Request, read_body

__all__ = ["MockTransport", "MockResponse", "sse_bytes"]


def sse_bytes(payloads: Iterable[Any], *, done: bool = True, eol: str = "\n") -> bytes:
    """An SSE body: each payload (dict -> JSON, str as is) as one ``data:`` event, then ``[DONE]``."""
    out = []
    for payload in payloads:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        out.append(f"data: {data}{eol}{eol}")
    if done:
        out.append(f"data: [DONE]{eol}{eol}")
    return "".join(out).encode("utf-8")


@dataclass
class MockResponse:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunks_: list[bytes] = field(default_factory=list)
    error: Exception | None = None        # raised by open() instead of answering
    error_after: Exception | None = None  # raised by the body after the last chunk
    delay: float = 0.0                    # seconds before each chunk
    open_delay: float = 0.0               # seconds before the headers "arrive"

    @classmethod
    def sse(cls, payloads: Iterable[Any], *, done: bool = True, split: int | None = None, **kw) -> "MockResponse":
        body = sse_bytes(payloads, done=done)
        chunks = [body[i:i + split] for i in range(0, len(body), split)] if split else [body]
        kw.setdefault("headers", {"content-type": "text/event-stream"})
        return cls(chunks_=chunks, **kw)

    @classmethod
    def raw(cls, body: bytes, *, split: int | None = None, **kw) -> "MockResponse":
        chunks = [body[i:i + split] for i in range(0, len(body), split)] if split else [body]
        kw.setdefault("headers", {"content-type": "text/event-stream"})
        return cls(chunks_=chunks, **kw)

    @classmethod
    def json(cls, payload: Any, *, status: int = 200, **kw) -> "MockResponse":
        headers = {"content-type": "application/json", **kw.pop("headers", {})}
        return cls(status=status, headers=headers, chunks_=[json.dumps(payload).encode()], **kw)

    @classmethod
    def text(cls, text: str, *, status: int = 200, content_type: str = "text/plain", **kw) -> "MockResponse":
        headers = {"content-type": content_type, **kw.pop("headers", {})}
        return cls(status=status, headers=headers, chunks_=[text.encode()], **kw)


class _Opened:
    def __init__(self, script: MockResponse):
        self._script = script
        self.status = script.status
        self.headers = {k.lower(): v for k, v in script.headers.items()}
        self.aborted = False
        self.closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        for chunk in self._script.chunks_:
            if self._script.delay:
                await asyncio.sleep(self._script.delay)
            if self.aborted:
                raise Cancelled("The request was cancelled.")
            yield chunk
        if self._script.error_after is not None:
            raise self._script.error_after

    async def read(self, limit: int = 1 << 20) -> bytes:
        return await read_body(self.chunks(), limit)

    def abort(self) -> None:
        self.aborted = True

    async def aclose(self) -> None:
        self.closed = True


class MockTransport:
    def __init__(self, script: "list[MockResponse] | Callable[[Request], MockResponse]"):
        self._script = script
        self.requests: list[Request] = []
        self.responses: list[_Opened] = []
        self.closed = False

    async def open(self, request: Request) -> _Opened:
        self.requests.append(request)
        if callable(self._script):
            script = self._script(request)
        else:
            if not self._script:
                raise AssertionError(f"MockTransport: no scripted response left for {request!r}")
            script = self._script.pop(0)
        if script.open_delay:
            await asyncio.sleep(script.open_delay)
        if script.error is not None:
            raise script.error
        opened = _Opened(script)
        self.responses.append(opened)
        return opened

    async def aclose(self) -> None:
        self.closed = True
