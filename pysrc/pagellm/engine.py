"""The interface both engines implement, and the records they stream.

An engine is loaded once, then streams replies::

    await engine.load(progress=print)
    async for event in engine.stream(conversation, settings):
        if isinstance(event, Delta):
            print(event.text, end="")
        else:  # the last event is always a Final with token counts and timings
            print(f"\\n{event.completion_tokens} tokens, {event.tokens_per_second:.1f} tok/s")

The local engine also yields, before the first ``Delta``, one ``ContextUse`` (how much of the model's
context the conversation takes, and how many old messages had to be left out) and ``Reading`` records
while it processes the prompt; a consumer that only wants text can ignore them.

``cancel()`` may be called at any moment (from another task); the stream then ends with a
``Final`` whose ``finish_reason`` is ``"cancelled"`` and keeps what was already produced.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import AsyncIterator, Callable, Protocol

from .messages import Conversation
from .settings import GenerationSettings


@dataclass
class Delta:
    """A piece of reply text. ``kind`` is "content", or "reasoning" for a model's thinking."""

    text: str
    kind: str = "content"


@dataclass
class ContextUse:
    """The prompt's share of the model's context: ``used`` of ``limit`` tokens, with the ``left_out``
    oldest messages not read because the conversation no longer fits."""

    used: int
    limit: int
    left_out: int = 0


@dataclass
class Citations:
    """What a reply was given of the attached files (``pagellm.grounding``): sent before its first delta;
    keep ``data`` as the reply's ``meta["citations"]``."""

    data: dict


@dataclass
class Reading:
    """Prompt processing: ``done`` of ``total`` prompt tokens are in the model's key/value cache."""

    done: int
    total: int


@dataclass
class Final:
    """The end of a reply: why it ended, token counts and timings (seconds)."""

    finish_reason: str  # "stop" | "length" | "cancelled"
    completion_tokens: int
    prompt_tokens: int | None = None
    time_to_first_token: float | None = None
    total_time: float = 0.0
    tokens_per_second: float | None = None  # decode speed: tokens after the first / their time
    reused_tokens: int | None = None  # prompt tokens whose keys and values came from the cache (local engine)
    drafted_tokens: int | None = None  # speculative decoding (local engine): tokens drafted from the conversation
    accepted_tokens: int | None = None  # ... and those the model agreed with
    drafting_failed: str | None = None  # why drafting stopped part-way (a run of several tokens failed)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Progress:
    """Load progress: a stage name, and bytes (or steps) done out of a total when known."""

    stage: str
    loaded: float = 0
    total: float | None = None
    file: str | None = None

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.loaded / self.total) if self.total else None

    def to_dict(self) -> dict:
        return {**asdict(self), "fraction": self.fraction}


ProgressCallback = Callable[[Progress], None]


class Engine(Protocol):
    async def load(self, progress: ProgressCallback | None = None) -> None: ...

    def stream(self, conversation: Conversation, settings: GenerationSettings) -> AsyncIterator[Delta | Reading | Final]: ...

    def cancel(self) -> None: ...


class ReplyClock:
    """Times one reply: call ``token()`` per produced token, then ``final(reason)``."""

    def __init__(self, now: Callable[[], float] = time.perf_counter):
        self._now = now
        self.started = now()
        self.first: float | None = None
        self.last: float | None = None
        self.tokens = 0

    def token(self, count: int = 1) -> None:
        stamp = self._now()
        if self.first is None:
            self.first = stamp
        self.last = stamp
        self.tokens += count

    def final(self, finish_reason: str, prompt_tokens: int | None = None, completion_tokens: int | None = None) -> Final:
        end = self._now()
        tokens = self.tokens if completion_tokens is None else completion_tokens
        ttft = None if self.first is None else self.first - self.started
        rate = None
        if self.first is not None and self.last is not None and tokens > 1 and self.last > self.first:
            rate = (tokens - 1) / (self.last - self.first)
        return Final(finish_reason, tokens, prompt_tokens, ttft, end - self.started, rate)
