"""Which prompt tokens a turn must process, given what the key/value cache already holds.

The local engine keeps the cache of the last reply. A new turn's prompt usually starts with everything the
cache holds (the same system prompt and history), so only the rest is processed. Tokens are fed in chunks
of ``CHUNK`` aligned to absolute positions (0-63, 64-127, ...), then the last prompt token alone, as
generation does. The int8 graph quantizes each run's activations with one scale per run, so a token's
keys and values depend on which tokens shared its run: feeding the same tokens in the same runs is what
makes a reply with a reused cache identical to one computed from scratch. A reuse therefore goes back to
the last chunk boundary the cache holds in canonical form (the reply that was decoded one token at a time
is fed again, as one chunk) — unless the engine had time to settle it: once a reply is done, the full
runs between the canonical end and what is known (the prompt and the reply) are fed in the background,
while the user reads and types.

    >>> plan = plan_prompt(list(range(200)), cached=CachedPrompt(list(range(150)), canonical=128))
    >>> plan.keep, plan.chunks
    (128, [(128, 192), (192, 199)])
    >>> plan_prompt(list(range(80)), cached=None).chunks
    [(0, 64), (64, 79)]
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Tokens per run: ~0.4 s each on one 2-core-machine thread, so Stop answers within half a second. Larger
# runs read long prompts faster (1,024 tokens in onnxruntime-web: ~155 tok/s in runs of 32, ~170 in runs of
# 64 or 128), smaller ones re-read less of the last reply on the next turn.
CHUNK = 64


@dataclass
class CachedPrompt:
    """The token ids whose keys and values the cache holds, and how many of the first are canonical."""

    ids: list[int] = field(default_factory=list)
    canonical: int = 0


@dataclass(frozen=True)
class PromptPlan:
    keep: int                        # cache positions kept
    chunks: list[tuple[int, int]]    # [start, end) runs to feed before generation feeds the last token
    total: int                       # prompt tokens

    @property
    def to_read(self) -> int:
        return self.total - self.keep


def common_prefix(a: list[int], b: list[int]) -> int:
    """The length of the longest common prefix.

    >>> common_prefix([1, 2, 3], [1, 2, 4, 5])
    2
    """
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def plan_prompt(ids: list[int], cached: CachedPrompt | None, chunk: int = CHUNK) -> PromptPlan:
    if not ids:
        raise ValueError("a prompt has at least one token")
    reusable = 0 if cached is None else min(common_prefix(cached.ids, ids), cached.canonical)
    keep = min(reusable, len(ids) - 1) // chunk * chunk
    last = len(ids) - 1
    chunks = [(start, min(start + chunk, last)) for start in range(keep, last, chunk)]
    return PromptPlan(keep, chunks, len(ids))


def after_prompt(ids: list[int], fed: int, chunk: int = CHUNK) -> CachedPrompt:
    """What the cache holds once `fed` prompt tokens are in it (all of them, or a stop part-way)."""
    return CachedPrompt(list(ids[:fed]), fed // chunk * chunk)


def after_reply(ids: list[int], generated: list[int], cached_length: int, chunk: int = CHUNK) -> CachedPrompt:
    """What the cache holds after a reply: the prompt and the generated tokens that were fed back
    (``cached_length`` positions in all; the last sampled token was never fed)."""
    every = list(ids) + list(generated)
    return CachedPrompt(every[:cached_length], (len(ids) - 1) // chunk * chunk)


def settle_chunks(known: list[int], cached: CachedPrompt | None, chunk: int = CHUNK) -> list[tuple[int, int]]:
    """The full aligned runs that make more of the cache canonical once a reply is done: from the canonical
    end to the last boundary of `known` (the prompt and every generated token).

    >>> settle_chunks(list(range(150)), CachedPrompt(list(range(140)), canonical=64))
    [(64, 128)]
    """
    if cached is None or cached.ids[:cached.canonical] != list(known[:cached.canonical]):
        return []
    end = len(known) // chunk * chunk
    return [(start, start + chunk) for start in range(cached.canonical, end, chunk)]

