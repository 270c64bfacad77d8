"""An incremental, spec-true decoder for Server-Sent Events (text/event-stream).

Bytes go in as they arrive, split anywhere (even inside a UTF-8 character or between the CR and
LF of a line end); complete events come out, the same however the stream was split::

    >>> decoder = SSEDecoder()
    >>> decoder.feed(b'data: {"a": 1}\\r')
    []
    >>> decoder.feed(b'\\n\\r\\n: keep-alive\\n\\ndata:x\\ndata\\n\\n')
    [ServerSentEvent(data='{"a": 1}', event='message', id='', retry=None), ServerSentEvent(data='x\\n', event='message', id='', retry=None)]

It follows the WHATWG HTML "event stream interpretation" rules: lines end in CRLF, LF or CR; a
line starting with ``:`` is a comment; ``field: value`` loses one space after the colon; ``data``
lines join with LF; a blank line dispatches the event unless no ``data`` field was seen; ``id``
persists to later events (unless it contains NUL); ``retry`` takes ASCII digits only; a leading
BOM is dropped; invalid UTF-8 becomes U+FFFD; an event cut off by the end of the stream is
discarded (``pending`` tells whether that happened).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import AsyncIterable, AsyncIterator, Iterable, Iterator

__all__ = ["ServerSentEvent", "SSEDecoder", "iter_events", "aiter_events"]

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event. ``retry`` is the reconnection time (ms) if this event set one."""

    data: str
    event: str = "message"
    id: str = ""
    retry: int | None = None


class SSEDecoder:
    """Feed bytes with ``feed()``; call ``close()`` at the end of the stream."""

    def __init__(self) -> None:
        # utf-8-sig drops one leading BOM, even when it arrives split across chunks.
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self._line = ""          # an unterminated line carried to the next chunk
        self._skip_lf = False    # the last chunk ended in CR: an LF starting the next one belongs to it
        self._data: list[str] = []
        self._event = ""
        self._retry: int | None = None
        self.last_event_id = ""
        self.retry: int | None = None  # the latest reconnection time the server asked for

    @property
    def pending(self) -> bool:
        """True when an unfinished line or event is buffered (it will be lost at ``close()``)."""
        return bool(self._line or self._data or self._event or self._retry is not None)

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode the next piece of the stream; return the events it completed."""
        return self._text(self._decoder.decode(chunk))

    def close(self) -> list[ServerSentEvent]:
        """End of stream. Per the spec an unfinished event is discarded, so this returns []."""
        self._text(self._decoder.decode(b"", True))
        self._line, self._data, self._event, self._retry = "", [], "", None
        return []

    def _text(self, text: str) -> list[ServerSentEvent]:
        if not text:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return []
        self._skip_lf = text[-1] == "\r"
        lines = _LINE_END.split(self._line + text if self._line else text)
        self._line = lines.pop()
        events = []
        for line in lines:
            event = self._process(line)
            if event is not None:
                events.append(event)
        return events

    def _process(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry = self.retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event, retry = self._data, self._event, self._retry
        self._data, self._event, self._retry = [], "", None
        if not data:
            return None
        return ServerSentEvent("\n".join(data), event or "message", self.last_event_id, retry)


def iter_events(chunks: Iterable[bytes]) -> Iterator[ServerSentEvent]:
    """Events from an iterable of byte chunks.

        >>> [e.data for e in iter_events([b"data: a\\n\\nda", b"ta: b\\n\\n"])]
        ['a', 'b']
    """
    decoder = SSEDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    decoder.close()


async def aiter_events(chunks: AsyncIterable[bytes]) -> AsyncIterator[ServerSentEvent]:
    """Events from an async iterable of byte chunks (a response body)."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    decoder.close()
