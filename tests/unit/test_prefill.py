"""pagellm.prefill: which prompt tokens a turn feeds, given the cache (plans checked against their invariants)."""

from hypothesis import given
from hypothesis import strategies as st

from pagellm.prefill import (CHUNK, CachedPrompt, after_prompt, after_reply, common_prefix, plan_prompt,
                             settle_chunks)

ids = st.lists(st.integers(0, 5), min_size=1, max_size=200)


@given(ids, st.one_of(st.none(), st.builds(CachedPrompt, ids, st.integers(0, 250))))
def test_a_plan_feeds_every_token_once_in_aligned_runs_and_keeps_only_what_matches(prompt, cached):
    plan = plan_prompt(prompt, cached)
    fed = [i for start, end in plan.chunks for i in range(start, end)]
    # Everything but the last token (which generation feeds) is either kept or fed, once, in order.
    assert list(range(plan.keep)) + fed == list(range(len(prompt) - 1))
    assert plan.keep % CHUNK == 0 and all(start % CHUNK == 0 for start, _ in plan.chunks)
    assert all(end - start <= CHUNK for start, end in plan.chunks)
    if cached is None:
        assert plan.keep == 0
    else:  # kept positions hold exactly this prompt's tokens, and only canonical ones
        assert plan.keep <= min(cached.canonical, common_prefix(cached.ids, prompt))


def test_a_longer_chat_reuses_up_to_the_last_boundary_of_the_previous_prompt():
    first = list(range(70))
    cached = after_reply(first, generated=[1, 2, 3, 99], cached_length=73, chunk=32)
    assert cached.ids == first + [1, 2, 3] and cached.canonical == 64
    second = first + [1, 2, 3, 99, 7, 8, 9]
    plan = plan_prompt(second, cached, chunk=32)
    assert plan.keep == 64 and plan.chunks == [(64, 76)] and plan.to_read == 13


def test_a_changed_first_token_reuses_nothing_and_a_stop_keeps_whole_runs():
    cached = CachedPrompt(list(range(100)), canonical=96)
    assert plan_prompt([7] + list(range(1, 100)), cached, chunk=32).keep == 0
    assert after_prompt(list(range(100)), fed=80, chunk=32) == CachedPrompt(list(range(80)), 64)


@given(ids, st.integers(0, 200))
def test_settling_feeds_whole_aligned_runs_after_the_canonical_end(known, canonical):
    cached = CachedPrompt(list(known), canonical // CHUNK * CHUNK)
    runs = settle_chunks(known, cached)
    assert all(end - start == CHUNK and start % CHUNK == 0 for start, end in runs)
    if runs:
        assert runs[0][0] == cached.canonical and runs[-1][1] <= len(known)
    assert settle_chunks(known, None) == []


def test_nothing_settles_on_a_cache_of_other_tokens():
    assert settle_chunks([9] * 200, CachedPrompt([1] * 100, canonical=64)) == []
