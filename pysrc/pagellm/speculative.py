"""Speculative decoding from the conversation itself (prompt lookup): the same replies, in fewer runs.

Many replies repeat their input: a quoted passage, a corrected function, names and numbers. When the last
few tokens of the reply occurred earlier in the prompt or the reply, the tokens that followed them there are
a likely continuation: a *draft*. One run of the model over the last chosen token and the draft gives the
model's own choice after each of them; the draft is kept up to its first disagreement, and the model's
choice there comes for free. The int8 graph computes a short run exactly as it computes one token per step
(models/rows.py), so a greedy reply is token for token the one plain decoding gives, in fewer runs. When
sampling, the model's choices come from speculative sampling (a draft token is kept with the probability
the model gives it, a rejected one is replaced by a draw from the rest), so replies keep the distribution of
plain sampling.

A draft that is rejected still costs its run, so drafting backs off: its length follows what was accepted,
and a run of rejections pauses it for a while (longer each time), so a reply with nothing to copy decodes
at the speed of plain decoding.

    >>> drafter = Drafter()
    >>> drafter.propose([4, 5, 6, 7, 8, 9, 4, 5, 6])  # "4 5 6" came before, followed by "7 8 9 4 5 6"
    [7, 8, 9, 4]
    >>> accept([7, 8, 9, 5], [7, 8, 4, 1, 2])         # the model agrees on two, then chooses 4
    [7, 8, 4]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable

__all__ = ["Drafter", "Outcome", "accept", "speculate"]

MAX_DRAFT = 15        # with the last chosen token, a run of 16: the longest models/rows.py makes exact
FIRST_DRAFT = 4
# The longest match first. Measured (bench/results/speculative-tuning.md): 4-grams first find the right place
# to copy from (repeating a passage, 84 of 86 drafted tokens kept, against 82 of 102 with 3-grams first), and
# without 2-grams open text drafts nothing, so it costs nothing.
NGRAM_SIZES = (4, 3)
PAUSE_AFTER = 2       # rejected drafts in a row that pause drafting
LONGEST_PAUSE = 64    # steps


@dataclass
class Drafter:
    """Drafts from n-gram matches in the tokens so far, with a length and pauses learnt from acceptance."""

    length: int = FIRST_DRAFT
    misses: int = 0
    pause: int = 0
    next_pause: int = 4
    drafted: int = 0
    accepted: int = 0
    # n -> {n tokens: where they last started, with a token after them}; filled as the tokens grow, so a
    # step costs the same however long the conversation (a scan of it cost ~2 ms a token in the page).
    _starts: dict = field(default_factory=lambda: {n: {} for n in NGRAM_SIZES}, repr=False)
    _indexed: dict = field(default_factory=lambda: dict.fromkeys(NGRAM_SIZES, 0), repr=False)

    def propose(self, tokens: list[int]) -> list[int]:
        """The draft after `tokens`: what followed the most recent earlier occurrence of their last n tokens.
        Each call's `tokens` extend the previous call's (the conversation so far).

        >>> Drafter().propose([1, 2, 3])
        []
        """
        for n in NGRAM_SIZES:
            starts = self._starts[n]
            for start in range(self._indexed[n], len(tokens) - n):
                starts[tuple(tokens[start:start + n])] = start
            self._indexed[n] = max(self._indexed[n], len(tokens) - n)
        if self.pause > 0:
            self.pause -= 1
            return []
        for n in NGRAM_SIZES:
            start = self._starts[n].get(tuple(tokens[-n:])) if len(tokens) > n else None
            if start is not None:
                return tokens[start + n:start + n + self.length]
        return []

    def stop(self) -> None:
        """No more drafts in this reply."""
        self.pause = 1 << 62

    def update(self, drafted: int, accepted: int) -> None:
        """Learn from one verified draft: grow after a full acceptance, shrink to what was accepted, pause
        after repeated rejections (pauses double up to LONGEST_PAUSE, and reset once a draft is kept)."""
        self.drafted += drafted
        self.accepted += accepted
        if accepted == drafted:
            self.length = min(MAX_DRAFT, self.length * 2)
        else:
            self.length = max(1, accepted + 1)
        if accepted == 0:
            self.misses += 1
            if self.misses >= PAUSE_AFTER:
                self.pause, self.misses = self.next_pause, 0
                self.next_pause = min(LONGEST_PAUSE, self.next_pause * 2)
        else:
            self.misses, self.next_pause = 0, 4


def accept(draft: list[int], choices: list[int]) -> list[int]:
    """The tokens a verification gives: the draft up to the model's first disagreement, then the model's
    choice there (`choices` has one more entry than `draft`: the choice after each fed token)."""
    kept = 0
    while kept < len(draft) and draft[kept] == choices[kept]:
        kept += 1
    return draft[:kept] + [choices[kept]]


@dataclass
class Outcome:
    """What a speculative reply produced: its tokens, and how many were drafted and accepted."""

    tokens: list[int] = field(default_factory=list)
    drafted: int = 0
    accepted: int = 0
    runs: int = 0
    failure: str | None = None  # why drafting stopped part-way (a verification run failed), if it did


# choose(ids, start, end) -> the model's choice after each of ids[start:end] (at least up to its first
# disagreement with the next fed token), the cache then holding them all.
Choose = Callable[[list[int], int, int], Awaitable[list[int]]]
# keep(length): cut the cache back to its first `length` positions.
Keep = Callable[[int], None]


async def speculate(choose: Choose, keep: Keep, prompt: list[int], *, max_new_tokens: int, eos: set[int],
                    limit: int, on_tokens: Callable[[list[int]], bool], drafter: Drafter | None = None) -> Outcome:
    """Decode after `prompt` (the cache holds all of it but its last token). `choose` returns the model's
    choice after each fed token up to its first disagreement with the fed draft. `on_tokens` gets each
    run's new tokens and returns False to stop (Stop, a stop string). Ends at an end-of-sequence token,
    `max_new_tokens`, or `limit` positions in all; a draft is cut to fit them."""
    drafter = drafter or Drafter()
    known, outcome = list(prompt), Outcome()
    while True:
        room = min(max_new_tokens - len(outcome.tokens), limit - len(known)) - 1
        draft = drafter.propose(known)[:max(0, room)] if room > 0 else []
        fed = len(known) - 1  # the last chosen token is not in the cache yet
        try:
            choices = await choose(known + draft, fed, len(known) + len(draft))
        except Exception as err:  # noqa: BLE001 - a run of several tokens failed (memory): one per step from here
            if not draft:
                raise
            outcome.failure = str(err) or type(err).__name__
            drafter.stop()
            draft = []
            choices = await choose(known, fed, len(known))
        new = accept(draft, choices)
        outcome.runs += 1
        if draft:
            drafter.update(len(draft), len(new) - 1)
            outcome.drafted, outcome.accepted = drafter.drafted, drafter.accepted
        for at, token in enumerate(new):
            if token in eos:
                new = new[:at + 1]
                break
        if draft:  # the cache keeps what was fed and kept; a rejected draft's positions leave it
            keep(len(known) + len(new) - 1)
        known += new
        outcome.tokens += new
        going = on_tokens(new)
        if not going or new[-1] in eos or len(outcome.tokens) >= max_new_tokens or len(known) >= limit:
            return outcome
