"""The SSE decoder: spec cases, recorded wire samples, and any split of a stream decoding the same."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pagellm.sse import ServerSentEvent as E
from pagellm.sse import SSEDecoder, aiter_events, iter_events

WIRE = Path(__file__).resolve().parent.parent / "data" / "wire"


def decode(*chunks: bytes) -> list[E]:
    return list(iter_events(chunks))


def data(*chunks: bytes) -> list[str]:
    return [e.data for e in decode(*chunks)]


# -- the spec, case by case -----------------------------------------------------------------------

@pytest.mark.parametrize("eol", ["\n", "\r", "\r\n"])
def test_every_line_end(eol):
    body = f"data: a{eol}{eol}data: b{eol}data: c{eol}{eol}".encode()
    assert data(body) == ["a", "b\nc"]


def test_mixed_line_ends_in_one_stream():
    assert data(b"data: a\r\n\ndata: b\r\rdata: c\n\r\n") == ["a", "b", "c"]


def test_cr_then_lf_in_the_next_chunk_is_one_line_end():
    # "data: a\r" + "\n\n": the CR LF pair must not count as two line ends (that would end the event
    # early, which here is harmless) -- and "data: a\r" + "\ndata: b\n\n" must stay one event.
    assert data(b"data: a\r", b"\ndata: b\n\n") == ["a\nb"]
    assert data(b"data: a\r", b"\n", b"\r", b"\n") == ["a"]


def test_cr_at_chunk_end_followed_by_empty_chunks():
    assert data(b"data: a\r", b"", b"\n", b"data: b\n\n") == ["a\nb"]


def test_comments_are_ignored():
    assert data(b": keep-alive\n\n:\n: another\ndata: x\n: inside\n\n") == ["x"]


def test_data_without_space_and_with_two_spaces():
    assert data(b"data:x\n\ndata:  y\n\n") == ["x", " y"]


def test_field_without_colon_is_a_field_with_empty_value():
    assert data(b"data\n\n") == [""]
    assert data(b"data\ndata\n\n") == ["\n"]


def test_empty_data_dispatches_an_empty_event():
    assert decode(b"data:\n\n") == [E("")]


def test_blank_lines_alone_dispatch_nothing():
    assert decode(b"\n\n\r\n\r\r") == []


def test_event_without_data_is_not_dispatched():
    assert decode(b"event: ping\n\n") == []
    # and its type does not leak into the next event
    assert decode(b"event: ping\n\ndata: x\n\n") == [E("x")]


def test_event_type_id_and_retry():
    events = decode(b"event: error\nid: 7\nretry: 1500\ndata: boom\n\ndata: next\n\n")
    assert events == [E("boom", "error", "7", 1500), E("next", "message", "7", None)]


def test_id_with_nul_is_ignored_and_empty_id_resets():
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 1\ndata: a\n\nid: x\0y\ndata: b\n\nid\ndata: c\n\n") == [
        E("a", id="1"), E("b", id="1"), E("c", id="")]


def test_retry_takes_digits_only():
    decoder = SSEDecoder()
    events = decoder.feed(b"retry: 12a\ndata: a\n\nretry: 30\ndata: b\n\n")
    assert [e.retry for e in events] == [None, 30]
    assert decoder.retry == 30


def test_unknown_fields_are_ignored():
    assert data(b"foo: bar\ndata: x\nbaz\n\n") == ["x"]


def test_bom_is_dropped_once_even_when_split():
    assert data(b"\xef\xbb", b"\xbfdata: a\n\n") == ["a"]
    # a second BOM is data, not dropped: it makes the field name "\ufeffdata", an unknown field
    assert data(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n") == []


def test_utf8_split_inside_a_character():
    body = "data: héllo 🦊 世界\n\n".encode()
    for cut in range(len(body) + 1):
        assert data(body[:cut], body[cut:]) == ["héllo 🦊 世界"], cut


def test_invalid_utf8_becomes_replacement_character():
    assert data(b"data: a\xffb\n\n") == ["a\ufffdb"]


def test_unfinished_event_at_end_is_discarded_and_reported_pending():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: partial\n") == [E("a")]
    assert decoder.pending
    assert decoder.close() == []
    assert not decoder.pending


def test_unterminated_last_line_is_discarded():
    assert data(b"data: a\n\ndata: b") == ["a"]


def test_colon_in_value_is_kept():
    assert data(b'data: {"a": "b:c"}\n\n') == ['{"a": "b:c"}']


def test_aiter_events():
    async def chunks():
        for piece in (b"data: a\n", b"\ndata: b\n\n"):
            yield piece

    async def collect():
        return [e.data async for e in aiter_events(chunks())]

    assert asyncio.run(collect()) == ["a", "b"]


# -- recorded and hand-written wire samples --------------------------------------------------------

SAMPLES = sorted(WIRE.glob("*.sse"))


def test_the_corpus_is_there():
    assert len(SAMPLES) >= 6


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_samples_decode_the_same_byte_by_byte(path):
    body = path.read_bytes()
    whole = decode(body)
    assert whole, "a sample must hold events"
    assert decode(*[body[i:i + 1] for i in range(len(body))]) == whole
    assert decode(*[body[i:i + 7] for i in range(0, len(body), 7)]) == whole


# -- any split decodes identically -----------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=12)
_line = st.one_of(
    st.builds(lambda v: f"data: {v}", _text),
    st.builds(lambda v: f"data:{v}", _text),
    st.just("data"),
    st.builds(lambda v: f"event: {v}", _text),
    st.builds(lambda v: f"id: {v}", _text),
    st.builds(lambda v: f"retry: {v}", st.one_of(st.integers(0, 10**6).map(str), _text)),
    st.builds(lambda v: f": {v}", _text),
    st.just(""),
    _text,
)
_eol = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def streams(draw) -> bytes:
    lines = draw(st.lists(st.tuples(_line, _eol), max_size=25))
    body = "".join(line + eol for line, eol in lines)
    if draw(st.booleans()):
        body = "\ufeff" + body
    return body.encode("utf-8")


@st.composite
def splits(draw, body: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=12)))
    pieces, last = [], 0
    for cut in cuts + [len(body)]:
        pieces.append(body[last:cut])
        last = cut
    return pieces


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_split_decodes_identically(data_):
    body = data_.draw(streams())
    pieces = data_.draw(splits(body))
    assert b"".join(pieces) == body
    assert decode(*pieces) == decode(body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.data())
def test_any_split_of_arbitrary_bytes_decodes_identically(body, data_):
    pieces = data_.draw(splits(body))
    assert decode(*pieces) == decode(body)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=20), min_size=1, max_size=8),
       st.data())
def test_data_round_trips_whatever_the_text(values, data_):
    # Encode each value as data lines (splitting on its own line ends), then decode under a random split.
    def encode(value: str) -> str:
        import re
        return "".join(f"data: {line}\n" for line in re.split(r"\r\n|\r|\n", value)) + "\n"

    import re
    body = "".join(encode(v) for v in values).encode("utf-8")
    expected = ["\n".join(re.split(r"\r\n|\r|\n", v)) for v in values]
    assert [e.data for e in decode(*data_.draw(splits(body)))] == expected
