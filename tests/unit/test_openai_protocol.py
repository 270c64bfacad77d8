"""The OpenAI wire format: request bodies per provider, chunk handling, the wire corpus, error mapping."""

from __future__ import annotations

import json
import time
from email.utils import formatdate
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pagellm import errors
from pagellm.cli import exit_status
from pagellm.engine import Delta
from pagellm.openai_errors import ErrorContext, error_from_response, retry_after_seconds, server_message
from pagellm.openai_protocol import ChatStream, chat_request, completion_deltas, encode_json, parse_models
from pagellm.providers import get
from pagellm.settings import GenerationSettings
from pagellm.sse import ServerSentEvent as E
from pagellm.sse import iter_events
from pagellm.urls import host_of

WIRE = Path(__file__).resolve().parent.parent / "data" / "wire"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
SETTINGS = GenerationSettings(temperature=0.3, top_p=0.9, top_k=20, max_new_tokens=50, repetition_penalty=1.2,
                              stop=("\n\n",), seed=7)


# -- request bodies -------------------------------------------------------------------------------

def test_body_for_a_custom_server_has_only_standard_fields():
    body = chat_request(MESSAGES, "m", SETTINGS, "custom")
    assert body == {
        "model": "m", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True},
        "temperature": 0.3, "top_p": 0.9, "max_tokens": 50, "stop": ["\n\n"], "seed": 7,
    }


@pytest.mark.parametrize("provider, extra", [
    ("vllm", {"top_k": 20, "repetition_penalty": 1.2}),
    ("together", {"top_k": 20, "repetition_penalty": 1.2}),
    ("qwen", {"top_k": 20, "repetition_penalty": 1.2}),
    ("lmstudio", {"top_k": 20, "repeat_penalty": 1.2}),
    ("llamacpp", {"top_k": 20, "repeat_penalty": 1.2}),
    ("text-generation-webui", {"top_k": 20, "repetition_penalty": 1.2}),
    ("ollama", {}),
    ("groq", {}),
    ("huggingface", {}),
])
def test_top_k_and_repetition_penalty_only_where_accepted(provider, extra):
    body = chat_request(MESSAGES, "m", SETTINGS, provider)
    for field in ("top_k", "repetition_penalty", "repeat_penalty"):
        assert body.get(field) == extra.get(field), field


def test_openai_gets_max_completion_tokens():
    body = chat_request(MESSAGES, "gpt-4o-mini", SETTINGS, "openai")
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body


def test_seed_is_not_sent_where_it_is_ignored():
    assert "seed" not in chat_request(MESSAGES, "claude-haiku-4-5", SETTINGS, "anthropic")
    assert chat_request(MESSAGES, "m", SETTINGS, "groq")["seed"] == 7


def test_unset_seed_and_stop_are_left_out():
    body = chat_request(MESSAGES, "m", GenerationSettings(), "custom")
    assert "seed" not in body and "stop" not in body


def test_too_many_stop_strings_for_openai():
    with pytest.raises(errors.SettingsError, match="at most 4"):
        chat_request(MESSAGES, "m", GenerationSettings(stop=tuple("abcde")), "openai")


def test_model_is_required_unless_the_server_serves_its_own():
    with pytest.raises(errors.InputError, match="Choose a model"):
        chat_request(MESSAGES, "", SETTINGS, "openai")
    assert "model" not in chat_request(MESSAGES, " ", SETTINGS, "llamacpp")


def test_empty_conversation_is_refused():
    with pytest.raises(errors.InputError):
        chat_request([], "m")


def test_not_streamed_has_no_stream_options():
    body = chat_request(MESSAGES, "m", SETTINGS, stream=False)
    assert body["stream"] is False and "stream_options" not in body


def test_encode_json_keeps_unicode_compact():
    assert encode_json({"a": "é"}) == '{"a":"é"}'.encode()


# -- chunk handling ---------------------------------------------------------------------------------

def chunk(delta=None, finish=None, **extra) -> E:
    choice = {"index": 0, "delta": delta if delta is not None else {}, "finish_reason": finish}
    return E(json.dumps({"choices": [choice], **extra}))


def run(*events: E) -> tuple[list[Delta], ChatStream]:
    stream = ChatStream()
    out = []
    for event in events:
        out += stream.feed(event)
    stream.end()
    return out, stream


def test_role_is_optional_and_empty_content_gives_nothing():
    out, stream = run(chunk({"content": ""}), chunk({"content": "a"}), chunk({"role": "assistant"}), chunk(finish="stop"))
    assert out == [Delta("a")] and stream.finish_reason == "stop"


def test_usage_chunk_with_empty_choices():
    out, stream = run(chunk({"content": "a"}, "stop"),
                      E('{"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}'), E("[DONE]"))
    assert (stream.prompt_tokens, stream.completion_tokens) == (3, 1)


def test_null_usage_on_each_chunk_is_fine():
    out, stream = run(chunk({"content": "a"}, usage=None), chunk(finish="stop", usage=None))
    assert out == [Delta("a")] and stream.prompt_tokens is None


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_deltas_are_kept_apart(field):
    out, _ = run(chunk({field: "hmm"}), chunk({"content": "yes"}), chunk(finish="stop"))
    assert out == [Delta("hmm", "reasoning"), Delta("yes", "content")]


def test_reasoning_null_next_to_content():
    out, _ = run(chunk({"content": "x", "reasoning_content": None, "reasoning": None}, "stop"))
    assert out == [Delta("x")]


def test_content_as_a_list_of_parts():
    parts = [{"type": "thinking", "thinking": [{"type": "text", "text": "t"}]}, {"type": "text", "text": "a"}]
    out, _ = run(chunk({"content": parts}, "stop"))
    assert out == [Delta("t", "reasoning"), Delta("a")]


def test_other_choices_are_ignored():
    event = E(json.dumps({"choices": [{"index": 1, "delta": {"content": "no"}},
                                      {"index": 0, "delta": {"content": "yes"}, "finish_reason": "stop"}]}))
    out, _ = run(event)
    assert out == [Delta("yes")]


def test_error_object_mid_stream_is_a_server_error_with_its_message():
    stream = ChatStream()
    stream.feed(chunk({"content": "a"}))
    with pytest.raises(errors.ServerError, match="model crashed"):
        stream.feed(E('{"error": {"message": "model crashed", "type": "server_error"}}'))


def test_error_event_type():
    with pytest.raises(errors.ServerError, match="overloaded"):
        ChatStream().feed(E('{"error": "overloaded"}', event="error"))
    with pytest.raises(errors.ServerError, match="plain words"):
        ChatStream().feed(E("plain words", event="error"))


def test_invalid_json_is_a_protocol_error():
    with pytest.raises(errors.ProtocolError, match="not JSON"):
        ChatStream().feed(E('{"choices": [}'))
    with pytest.raises(errors.ProtocolError, match="not a JSON object"):
        ChatStream().feed(E("[1, 2]"))


def test_done_then_nothing_more_is_read():
    stream = ChatStream()
    stream.feed(chunk({"content": "a"}, "stop"))
    stream.feed(E("[DONE]"))
    assert stream.feed(E("not json at all")) == []
    assert stream.end() == "stop"


def test_finish_reason_without_done_is_complete():
    _, stream = run(chunk({"content": "a"}), chunk(finish="length"))
    assert stream.finish_reason == "length"


def test_no_finish_reason_and_no_done_is_a_cut_stream():
    stream = ChatStream()
    stream.feed(chunk({"content": "a"}))
    with pytest.raises(errors.StreamCutError, match="before the reply was finished"):
        stream.end()


def test_done_without_finish_reason_is_a_cut_stream():
    stream = ChatStream()
    stream.feed(chunk({"content": "a"}))
    stream.feed(E("[DONE]"))
    with pytest.raises(errors.StreamCutError, match="without a finish_reason"):
        stream.end()


def test_empty_stream_is_cut_with_a_context_hint():
    with pytest.raises(errors.StreamCutError, match="before sending any part") as info:
        ChatStream().end()
    assert "too long" in str(info.value)


def test_empty_data_events_are_skipped():
    _, stream = run(E(""), chunk({"content": "a"}, "stop"))
    assert stream.events == 2


def test_groq_usage_in_x_groq():
    _, stream = run(chunk({"content": "a"}, "stop", x_groq={"usage": {"prompt_tokens": 4, "completion_tokens": 1}}))
    assert stream.prompt_tokens == 4


def test_completion_deltas_from_a_whole_completion():
    payload = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi", "reasoning_content": "r"},
                            "finish_reason": "stop"}], "usage": {"prompt_tokens": 2, "completion_tokens": 1}}
    stream = ChatStream()
    assert completion_deltas(payload, stream) == [Delta("r", "reasoning"), Delta("Hi")]
    assert stream.end() == "stop" and stream.completion_tokens == 1


def test_parse_models_variants():
    assert parse_models({"object": "list", "data": [{"id": "a"}, {"id": "b"}]}) == ["a", "b"]
    assert parse_models({"models": [{"name": "c"}, "d", {"model": "e"}, 3]}) == ["c", "d", "e"]
    assert parse_models([{"id": "f"}]) == ["f"]
    with pytest.raises(errors.ProtocolError):
        parse_models({"object": "list"})


def test_recorded_model_list():
    record = json.loads((WIRE / "llamacpp-models.response.json").read_text())
    assert parse_models(json.loads(record["body"])) == ["smollm2"]


# -- the wire corpus --------------------------------------------------------------------------------

EXPECTED = json.loads((WIRE / "expected.json").read_text())


def test_every_sample_has_an_expectation():
    assert sorted(EXPECTED) == sorted(p.name for p in WIRE.glob("*.sse"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("split", [None, 1, 5])
def test_wire_sample_decodes_as_expected(name, split):
    body = (WIRE / name).read_bytes()
    pieces = [body] if split is None else [body[i:i + split] for i in range(0, len(body), split)]
    want = EXPECTED[name]
    stream = ChatStream()
    content, reasoning, error = [], [], None
    try:
        for event in iter_events(pieces):
            for delta in stream.feed(event):
                (content if delta.kind == "content" else reasoning).append(delta.text)
        stream.end()
    except errors.PagellmError as err:
        error = type(err).__name__
    assert error == want.get("error")
    assert "".join(content) == want["content"]
    assert "".join(reasoning) == want["reasoning"]
    assert stream.finish_reason == want.get("finish_reason")
    assert (stream.prompt_tokens, stream.completion_tokens) == (want["prompt_tokens"], want["completion_tokens"])


# -- error mapping ------------------------------------------------------------------------------------

KEY = "sk-live-0123456789abcdefghijKLMN"
CTX = ErrorContext(url="https://api.example.com/v1/chat/completions", base_url="https://api.example.com/v1",
                   model="big-model", provider=get("openai"), key_sent=True,
                   key_source="the environment variable OPENAI_API_KEY", secrets=(KEY,))
NO_KEY = ErrorContext(url=CTX.url, base_url=CTX.base_url, model="big-model", provider=get("openai"))


def err(status, body=b"", headers=None, ctx=CTX):
    return error_from_response(status, body, headers or {}, ctx)


def test_401_with_a_key_names_where_the_key_comes_from():
    e = err(401, b'{"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}')
    assert isinstance(e, errors.AuthError) and exit_status(e) == 5
    assert "rejected the API key" in str(e) and "OPENAI_API_KEY" in str(e) and "api.example.com:443" in str(e)


def test_401_without_a_key_says_one_is_needed_and_where_to_get_it():
    e = err(401, b'{"detail": "Invalid API key"}', ctx=NO_KEY)
    assert "needs an API key" in str(e) and "platform.openai.com" in str(e)


def test_recorded_llamacpp_401():
    record = json.loads((WIRE / "llamacpp-401.response.json").read_text())
    ctx = ErrorContext(url="http://127.0.0.1:8080/v1/chat/completions", base_url="http://127.0.0.1:8080/v1",
                       key_sent=True)
    e = error_from_response(record["status"], record["body"], record["headers"], ctx)
    assert isinstance(e, errors.AuthError)
    assert e.message == "127.0.0.1:8080 rejected the API key (HTTP 401): Invalid API key"


def test_403_is_an_auth_error_about_permission():
    e = err(403, b'{"error": {"message": "not allowed"}}')
    assert isinstance(e, errors.AuthError) and "big-model" in str(e)


def test_403_from_ollama_mentions_origins():
    ctx = ErrorContext(url="http://localhost:11434/v1/chat/completions", base_url="http://localhost:11434/v1",
                       provider=get("ollama"))
    assert "OLLAMA_ORIGINS" in str(error_from_response(403, b"", {}, ctx))


def test_404_path_points_at_the_base_url():
    e = err(404, b'{"detail": "Not Found"}')
    assert isinstance(e, errors.NotFoundError)
    assert "/v1" in e.hint and "/chat/completions" in e.hint and CTX.url in e.message


def test_404_model_points_at_the_model_list():
    e = err(404, b'{"error": {"message": "The model `big-model` does not exist", "code": "model_not_found"}}')
    assert isinstance(e, errors.NotFoundError) and "Model 'big-model' was not found" in e.message


def test_recorded_llamacpp_404():
    record = json.loads((WIRE / "llamacpp-404.response.json").read_text())
    e = error_from_response(record["status"], record["body"], record["headers"], CTX)
    assert isinstance(e, errors.NotFoundError) and "Not Found" in e.message


def test_429_with_retry_after_seconds():
    e = err(429, b'{"error": {"message": "Rate limit reached"}}', {"Retry-After": "20"})
    assert isinstance(e, errors.RateLimitError) and e.retry_after == 20 and "Try again in 20 s" in str(e)


def test_429_with_retry_after_date_and_ms():
    when = formatdate(time.time() + 30, usegmt=True)
    assert 25 <= retry_after_seconds({"retry-after": when}) <= 31
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_429_without_retry_after():
    e = err(429, b"{}")
    assert e.retry_after is None and "Wait a moment" in str(e)


def test_429_out_of_quota_is_not_a_wait():
    e = err(429, b'{"error": {"message": "You exceeded your current quota, please check your plan and billing details.",'
                 b' "code": "insufficient_quota"}}')
    assert isinstance(e, errors.RateLimitError) and "quota" in e.message and "billing" in e.hint


def test_400_context_length_exceeded_recorded():
    record = json.loads((WIRE / "llamacpp-400-context.response.json").read_text())
    e = error_from_response(record["status"], record["body"], record["headers"], CTX)
    assert isinstance(e, errors.ContextLengthError) and isinstance(e, errors.BadRequestError)
    assert "too long" in e.message and "new chat" in e.hint and "512 tokens" in e.message


def test_400_context_by_words_only():
    e = err(400, b'{"error": {"message": "prompt is too long: 210000 tokens > 200000 maximum"}}')
    assert isinstance(e, errors.ContextLengthError)


def test_400_other():
    e = err(400, b'{"error": {"message": "Unsupported parameter: top_k"}}')
    assert type(e) is errors.BadRequestError and "top_k" in e.message


def test_422_fastapi_validation_detail():
    body = b'{"detail": [{"loc": ["body", "messages", 0, "role"], "msg": "field required", "type": "missing"}]}'
    e = err(422, body)
    assert type(e) is errors.BadRequestError and "messages.0.role: field required" in e.message


@pytest.mark.parametrize("status, kind, words", [
    (500, errors.ServerError, "failed (HTTP 500)"),
    (502, errors.ServerError, "failed (HTTP 502)"),
    (503, errors.ServerError, "unavailable"),
    (504, errors.RequestTimeoutError, "gave up"),
    (408, errors.RequestTimeoutError, "gave up"),
    (405, errors.BadRequestError, "rejected"),
    (301, errors.BadURLError, "redirects"),
])
def test_other_statuses(status, kind, words):
    e = err(status, b"oops", {"location": "https://api.example.com/v1/chat/completions"})
    assert isinstance(e, kind) and words in e.message


def test_5xx_plain_text_and_html_bodies():
    assert "Internal Server Error" in err(500, b"Internal Server Error").message
    e = err(502, b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>")
    assert "an HTML page (502 Bad Gateway)" in e.message


def test_gemini_list_shaped_error():
    body = b'[{"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}}]'
    assert server_message(body) == ("API key not valid.", "400")


def test_server_message_shapes():
    assert server_message(b'{"error": "plain"}') == ("plain", None)
    assert server_message(b'{"message": "top"}') == ("top", None)
    assert server_message(b"") == ("", None)
    assert server_message("x" * 1000)[0].endswith("…")


def test_every_error_has_a_hint():
    for status in (301, 400, 401, 403, 404, 405, 408, 413, 422, 429, 500, 502, 503, 504):
        e = err(status, b"{}")
        assert e.hint, status


@pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 408, 413, 418, 422, 429, 500, 503, 504, 524, 600])
def test_every_status_error_carries_the_answer_as_data(status):
    err = error_from_response(status, b'{"error": {"message": "no"}}', {}, CTX)
    assert isinstance(err, errors.RemoteError) and f"HTTP {status}" in err.message
    assert (err.status, err.host, err.server_message) == (status, "api.example.com:443", "no")


def test_exit_status_follows_the_error_type():
    assert exit_status(errors.BadURLError("x")) == 2 and exit_status(errors.SettingsError("f", "x")) == 2
    assert exit_status(errors.RequestTimeoutError("x")) == 4 and exit_status(errors.AuthError("x")) == 5
    assert exit_status(errors.SchemaError("x")) == 3 and exit_status(errors.Cancelled("x")) == 130
    assert exit_status(errors.PagellmError("x")) == 1


def test_host_of():
    assert host_of("https://api.openai.com/v1") == "api.openai.com:443"
    assert host_of("http://[::1]:8080/v1") == "[::1]:8080"


# -- the key never shows ---------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 429, 500, 503])
def test_the_key_is_masked_when_the_server_echoes_it(status):
    for body in (
        json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}."}}),
        json.dumps({"detail": f"bad key {KEY[:20]}"}),          # a long piece of it
        f"Bearer {KEY}",
    ):
        e = err(status, body.encode())
        for text in (str(e), e.message, e.hint or "", json.dumps(e.to_dict())):
            assert KEY not in text and KEY[:16] not in text and KEY[-16:] not in text


@settings(max_examples=150, deadline=None)
@given(key=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=16, max_size=60),
       status=st.sampled_from([400, 401, 403, 404, 429, 500]),
       before=st.text(max_size=30), after=st.text(max_size=30))
def test_no_key_survives_in_any_error(key, status, before, after):
    ctx = ErrorContext(url=CTX.url, base_url=CTX.base_url, key_sent=True, secrets=(key,))
    body = json.dumps({"error": {"message": before + key + after}})
    e = error_from_response(status, body, {}, ctx)
    assert key not in str(e)


def test_stream_errors_mask_the_key_too():
    stream = ChatStream(secrets=(KEY,))
    with pytest.raises(errors.ServerError) as info:
        stream.feed(E(json.dumps({"error": {"message": f"key {KEY} revoked"}})))
    assert KEY not in str(info.value)
    with pytest.raises(errors.ProtocolError) as info:
        ChatStream(secrets=(KEY,)).feed(E(f"not json {KEY}"))
    assert KEY not in str(info.value)
