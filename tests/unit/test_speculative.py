"""Speculative decoding's control flow against a fake model: the same tokens as one token per step, the
cache cut back to what was kept, drafts cut to the limits, and drafting that backs off."""

import asyncio
import random

import pytest

from pagellm.speculative import MAX_DRAFT, Drafter, accept, speculate


class FakeModel:
    """A deterministic next token for every context, and a cache that records which positions it holds."""

    def __init__(self, rule):
        self.rule = rule
        self.cache: list[int] = []
        self.runs: list[int] = []

    async def choose(self, known, start, end):
        assert self.cache == known[:start], "the cache holds exactly the tokens before the run"
        assert end - start <= MAX_DRAFT + 1
        self.cache = list(known[:end])
        self.runs.append(end - start)
        return [self.rule(known[:i + 1]) for i in range(start, end)]

    def keep(self, length):
        assert length <= len(self.cache)
        self.cache = self.cache[:length]


def plain(rule, prompt, max_new_tokens, eos=frozenset(), limit=10_000):
    tokens, known = [], list(prompt)
    while len(tokens) < max_new_tokens and len(known) < limit:
        token = rule(known)
        tokens.append(token)
        known.append(token)
        if token in eos:
            break
    return tokens


def run(rule, prompt, max_new_tokens=60, eos=frozenset(), limit=10_000, stop_after=None):
    model = FakeModel(rule)
    model.cache = list(prompt[:-1])
    seen = []

    def on_tokens(new):
        seen.extend(new)
        return stop_after is None or len(seen) < stop_after

    outcome = asyncio.run(speculate(model.choose, model.keep, prompt, max_new_tokens=max_new_tokens, eos=set(eos),
                                    limit=limit, on_tokens=on_tokens))
    assert seen == outcome.tokens
    return outcome, model


def copier(passage):
    """Repeats `passage` after the prompt, then counts."""
    def rule(known):
        position = len(known) - PROMPT_LENGTH
        return passage[position] if 0 <= position < len(passage) else (known[-1] * 7 + 3) % 1000
    return rule


PROMPT_LENGTH = 40


@pytest.mark.parametrize("seed", range(6))
def test_same_tokens_as_one_per_step(seed):
    rng = random.Random(seed)
    passage = [rng.randrange(1000) for _ in range(30)]
    prompt = [rng.randrange(1000) for _ in range(PROMPT_LENGTH - 30)] + passage
    rule = copier(passage)
    outcome, model = run(rule, prompt)
    assert outcome.tokens == plain(rule, prompt, 60)
    assert outcome.accepted > 20, "a repeated passage is drafted and accepted"
    assert len(model.runs) < 40, "fewer runs than tokens"


def test_cache_holds_prompt_and_reply_but_the_last_token():
    rng = random.Random(1)
    passage = [rng.randrange(1000) for _ in range(30)]
    prompt = [rng.randrange(1000) for _ in range(10)] + passage
    outcome, model = run(copier(passage), prompt, max_new_tokens=50)
    assert model.cache == (prompt + outcome.tokens)[:-1]


def test_end_of_sequence_inside_an_accepted_draft_ends_the_reply():
    passage = list(range(100, 130))
    prompt = list(range(10)) + passage
    eos = {passage[12]}
    outcome, model = run(copier(passage), prompt, eos=eos)
    assert outcome.tokens == passage[:13]
    assert model.cache == (prompt + outcome.tokens)[:-1]


@pytest.mark.parametrize("max_new_tokens,limit", [(7, 10_000), (60, 55)])
def test_drafts_are_cut_to_the_token_limit_and_the_context(max_new_tokens, limit):
    passage = list(range(100, 140))
    prompt = list(range(10)) + passage
    outcome, model = run(copier(passage), prompt, max_new_tokens=max_new_tokens, limit=limit)
    assert outcome.tokens == plain(copier(passage), prompt, max_new_tokens, limit=limit)
    assert len(prompt) + len(outcome.tokens) <= limit
    assert len(model.cache) <= limit


def test_stop_between_runs():
    passage = list(range(100, 140))
    outcome, _ = run(copier(passage), list(range(10)) + passage, stop_after=5)
    assert 5 <= len(outcome.tokens) < 40


def test_open_text_backs_off():
    """A model that never follows the n-gram draft: few runs carry a draft, so few are wasted."""
    def rule(known):
        return (known[-1] * 31 + len(known)) % 50  # repeats its n-grams, never what followed them
    prompt = list(range(40))
    outcome, model = run(rule, prompt, max_new_tokens=200)
    assert outcome.tokens == plain(rule, prompt, 200)
    drafted_runs = sum(1 for n in model.runs if n > 1)
    assert drafted_runs < 40, f"{drafted_runs} of {len(model.runs)} runs carried a rejected draft"


def test_drafts_come_from_the_most_recent_earlier_match_as_the_conversation_grows():
    rng = random.Random(5)
    tokens, drafter = [], Drafter(length=6)
    for _ in range(400):
        tokens.append(rng.randrange(6))
        expected = []
        for n in (4, 3):
            starts = [s for s in range(len(tokens) - n) if tokens[s:s + n] == tokens[-n:]]
            if len(tokens) > n and starts:
                expected = tokens[starts[-1] + n:starts[-1] + n + 6]
                break
        assert drafter.propose(tokens) == expected


def test_accept_keeps_the_model_choice_after_the_last_agreement():
    assert accept([], [5]) == [5]
    assert accept([1, 2, 3], [1, 2, 3, 4]) == [1, 2, 3, 4]
    assert accept([1, 2, 3], [9, 2, 3, 4]) == [9]


def test_drafter_grows_shrinks_and_pauses():
    drafter = Drafter()
    drafter.update(4, 4)
    assert drafter.length == 8
    drafter.update(8, 2)
    assert drafter.length == 3
    drafter.update(3, 0)
    drafter.update(1, 0)
    assert drafter.pause > 0
    assert drafter.propose([1, 2, 1, 2]) == []


def test_a_failed_verification_falls_back_to_one_token_per_step():
    rng = random.Random(2)
    passage = [rng.randrange(1000) for _ in range(30)]
    prompt = [rng.randrange(1000) for _ in range(10)] + passage
    rule = copier(passage)
    model = FakeModel(rule)
    model.cache = list(prompt[:-1])
    choose = model.choose

    async def failing(known, start, end):
        if end - start > 1:
            raise MemoryError("out of memory")
        return await choose(known, start, end)

    outcome = asyncio.run(speculate(failing, model.keep, prompt, max_new_tokens=40, eos=set(), limit=10_000,
                                    on_tokens=lambda new: True))
    assert outcome.failure == "out of memory"
    assert outcome.tokens == plain(rule, prompt, 40)
    assert set(model.runs) == {1}
    assert model.cache == (prompt + outcome.tokens)[:-1]


def test_a_failure_of_a_one_token_step_is_raised():
    async def broken(known, start, end):
        raise RuntimeError("session lost")

    with pytest.raises(RuntimeError, match="session lost"):
        asyncio.run(speculate(broken, lambda n: None, [1, 2, 3], max_new_tokens=5, eos=set(), limit=100,
                              on_tokens=lambda new: True))
