"""RemoteEngine over the mock transport; the httpx transport and the CLI against the loopback fake server;
the pure helpers of the browser transport; the fake server's own CORS."""

from __future__ import annotations

import asyncio
import io
import json
import sys

import httpx
import pytest

from pagellm import errors
from pagellm.cli import exit_status, resolve_key
from pagellm.cli import main as cli_main
from pagellm.engine import Delta, Final
from pagellm.messages import Conversation
from pagellm.providers import get
from pagellm.remote import RemoteEngine
from pagellm.settings import GenerationSettings
from pagellm.transports import Request, fetch_failed_error, mixed_content_error
from pagellm.transports.httpx_transport import HttpxTransport
from pagellm.transports.mock import MockResponse, MockTransport
from pagellm.urls import is_loopback, is_private, validate_base_url
from tests.fake_openai import FakeOpenAI

BASE = "http://test.local:8000/v1"
KEY = "sk-test-0123456789abcdefghij"


def words(*parts, finish="stop", usage=None):
    payloads = [{"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}]
    payloads += [{"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in parts]
    if finish:
        payloads.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if usage:
        payloads.append({"choices": [], "usage": usage})
    return payloads


def chat(text="Hello?") -> Conversation:
    conversation = Conversation(system_prompt="Be brief.")
    conversation.add_user(text)
    return conversation


async def collect(engine, conversation=None, settings=None):
    events = []
    async for event in engine.stream(conversation or chat(), settings):
        events.append(event)
    return events


def text_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, Delta) and e.kind == "content")


def run(coro):
    return asyncio.run(coro)


# -- streaming -----------------------------------------------------------------------------------

def test_stream_yields_deltas_then_final_with_usage():
    transport = MockTransport([MockResponse.sse(words("Hel", "lo", usage={"prompt_tokens": 9, "completion_tokens": 2}))])
    events = run(collect(RemoteEngine(BASE, "m", transport=transport)))
    assert text_of(events) == "Hello"
    final = events[-1]
    assert isinstance(final, Final) and [type(e) for e in events[:-1]] == [Delta, Delta]
    assert (final.finish_reason, final.completion_tokens, final.prompt_tokens) == ("stop", 2, 9)
    assert final.time_to_first_token is not None and final.total_time >= final.time_to_first_token
    assert transport.responses[0].closed


def test_request_shape_and_headers():
    transport = MockTransport([MockResponse.sse(words("x"))])
    settings = GenerationSettings(temperature=0.2, max_new_tokens=5, repetition_penalty=1.3)
    run(collect(RemoteEngine(BASE + "/", "my-model", api_key=KEY, provider="lmstudio", transport=transport),
                settings=settings))
    request = transport.requests[0]
    assert request.method == "POST" and request.url == BASE + "/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "text/event-stream"
    body = json.loads(request.body)
    assert body["model"] == "my-model" and body["stream"] is True and body["max_tokens"] == 5
    assert body["repeat_penalty"] == 1.3 and body["temperature"] == 0.2
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}]
    assert KEY not in repr(request)


def test_plain_message_lists_are_accepted():
    transport = MockTransport([MockResponse.sse(words("x"))])
    run(collect(RemoteEngine(BASE, "m", transport=transport), [{"role": "user", "content": "hi"}]))
    assert json.loads(transport.requests[0].body)["messages"] == [{"role": "user", "content": "hi"}]


def test_no_key_no_authorization_header():
    transport = MockTransport([MockResponse.sse(words("x"))])
    run(collect(RemoteEngine(BASE, "m", transport=transport)))
    assert "authorization" not in transport.requests[0].headers


def test_key_goes_only_to_the_base_url():
    transport = MockTransport(lambda request: MockResponse.sse(words("x")) if request.method == "POST"
                              else MockResponse.json({"data": [{"id": "m"}]}))
    engine = RemoteEngine(BASE, "m", api_key=KEY, transport=transport)

    async def use():
        await engine.load()
        await collect(engine)
        await engine.list_models()

    run(use())
    assert len(transport.requests) == 2
    assert all(r.url.startswith(BASE + "/") for r in transport.requests)


def test_browser_only_headers(monkeypatch):
    transport = MockTransport([MockResponse.sse(words("x")), MockResponse.sse(words("x"))])
    engine = RemoteEngine("https://api.anthropic.com/v1", "claude-haiku-4-5", api_key=KEY, provider="anthropic",
                          transport=transport)
    run(collect(engine))
    assert "anthropic-dangerous-direct-browser-access" not in transport.requests[0].headers
    monkeypatch.setattr(sys, "platform", "emscripten")
    run(collect(engine))
    assert transport.requests[1].headers["anthropic-dangerous-direct-browser-access"] == "true"


@pytest.mark.parametrize("split", [1, 3, 17])
def test_any_chunking_gives_the_same_reply(split):
    transport = MockTransport([MockResponse.sse(words("Gr", "üß", " 🦊", "!"), split=split)])
    assert text_of(run(collect(RemoteEngine(BASE, "m", transport=transport)))) == "Grüß 🦊!"


def test_reasoning_deltas_come_through_apart():
    payloads = [{"choices": [{"index": 0, "delta": {"reasoning_content": "think"}}]},
                {"choices": [{"index": 0, "delta": {"content": "answer"}, "finish_reason": "stop"}]}]
    events = run(collect(RemoteEngine(BASE, "m", transport=MockTransport([MockResponse.sse(payloads)]))))
    assert events[:2] == [Delta("think", "reasoning"), Delta("answer")]


def test_server_ignoring_stream_true_still_works():
    payload = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "whole"}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
    events = run(collect(RemoteEngine(BASE, "m", transport=MockTransport([MockResponse.json(payload)]))))
    assert text_of(events) == "whole" and events[-1].finish_reason == "stop" and events[-1].prompt_tokens == 3


def test_html_answer_is_a_protocol_error_about_the_base_url():
    transport = MockTransport([MockResponse.text("<html>UI</html>", content_type="text/html")])
    with pytest.raises(errors.ProtocolError, match="web page"):
        run(collect(RemoteEngine(BASE, "m", transport=transport)))


def test_length_finish_reason():
    events = run(collect(RemoteEngine(BASE, "m", transport=MockTransport([MockResponse.sse(words("a", finish="length"))]))))
    assert events[-1].finish_reason == "length"


# -- failures keep the partial text ----------------------------------------------------------------------

@pytest.mark.parametrize("script, kind", [
    (MockResponse.sse(words("Par", "tial", finish=None), done=False), errors.StreamCutError),
    (MockResponse.sse(words("Par", "tial", finish=None), done=True), errors.StreamCutError),
    (MockResponse.sse(words("Par", "tial", finish=None), done=False,
                      error_after=errors.StreamCutError("connection broke")), errors.StreamCutError),
    (MockResponse.sse(words("Par", "tial", finish=None) + [{"error": {"message": "boom"}}], done=False),
     errors.ServerError),
    (MockResponse.sse(words("Par", "tial", finish=None) + ["{not json"], done=False), errors.ProtocolError),
])
def test_failures_mid_stream_keep_the_partial_text(script, kind):
    seen = []

    async def use():
        async for event in RemoteEngine(BASE, "m", transport=MockTransport([script])).stream(chat()):
            seen.append(event)

    with pytest.raises(kind) as info:
        run(use())
    assert text_of(seen) == "Partial"
    assert info.value.partial_text == "Partial"


@pytest.mark.parametrize("status, body, kind", [
    (401, {"detail": "Invalid API key"}, errors.AuthError),
    (403, {"error": {"message": "forbidden"}}, errors.AuthError),
    (404, {"detail": "Not Found"}, errors.NotFoundError),
    (429, {"error": {"message": "slow down"}}, errors.RateLimitError),
    (400, {"error": {"message": "too long", "code": "context_length_exceeded"}}, errors.ContextLengthError),
    (500, {"error": {"message": "oops"}}, errors.ServerError),
    (503, {"error": {"message": "loading"}}, errors.ServerError),
])
def test_http_errors_become_typed_errors(status, body, kind):
    transport = MockTransport([MockResponse.json(body, status=status, headers={"retry-after": "3"})])
    with pytest.raises(kind) as info:
        run(collect(RemoteEngine(BASE, "m", api_key=KEY, transport=transport)))
    assert info.value.partial_text == ""
    assert KEY not in str(info.value)
    assert transport.responses[0].closed
    if kind is errors.RateLimitError:
        assert info.value.retry_after == 3


def test_transport_errors_pass_through():
    transport = MockTransport([MockResponse(error=errors.NetworkError("Nothing is listening on test.local:8000"))])
    with pytest.raises(errors.NetworkError, match="Nothing is listening"):
        run(collect(RemoteEngine(BASE, "m", transport=transport)))


def test_missing_key_fails_before_any_request():
    transport = MockTransport([])
    engine = RemoteEngine("https://api.openai.com/v1", "gpt-4o-mini", provider="openai", transport=transport,
                          key_source="the environment variable OPENAI_API_KEY")
    with pytest.raises(errors.AuthError, match="OPENAI_API_KEY"):
        run(engine.load())
    with pytest.raises(errors.AuthError):
        run(collect(engine))
    assert transport.requests == []


def test_engine_is_reusable_after_an_error():
    transport = MockTransport([MockResponse.json({"error": {"message": "x"}}, status=500), MockResponse.sse(words("ok"))])
    engine = RemoteEngine(BASE, "m", transport=transport)
    with pytest.raises(errors.ServerError):
        run(collect(engine))
    assert text_of(run(collect(engine))) == "ok"


# -- cancel ------------------------------------------------------------------------------------------------

def test_cancel_from_another_task_mid_stream():
    transport = MockTransport([MockResponse.sse(words(*[f"w{i} " for i in range(50)]), split=60, delay=0.01)])
    engine = RemoteEngine(BASE, "m", transport=transport)

    async def use():
        events = []

        async def consume():
            async for event in engine.stream(chat()):
                events.append(event)

        task = asyncio.ensure_future(consume())
        while len(events) < 3:
            await asyncio.sleep(0.005)
        engine.cancel()
        await asyncio.wait_for(task, 2)
        return events

    events = run(use())
    final = events[-1]
    assert isinstance(final, Final) and final.finish_reason == "cancelled"
    assert 3 <= final.completion_tokens < 50
    assert transport.responses[0].closed


def test_cancel_from_the_consuming_loop():
    transport = MockTransport([MockResponse.sse(words("a", "b", "c", "d"))])
    engine = RemoteEngine(BASE, "m", transport=transport)

    async def use():
        events = []
        async for event in engine.stream(chat()):
            events.append(event)
            if len(events) == 2:
                engine.cancel()
        return events

    events = run(use())
    assert text_of(events) == "ab" and events[-1].finish_reason == "cancelled"


def test_cancel_while_waiting_for_the_headers():
    transport = MockTransport([MockResponse.sse(words("late"), open_delay=5)])
    engine = RemoteEngine(BASE, "m", transport=transport)

    async def use():
        stream = engine.stream(chat())
        first = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.05)
        engine.cancel()
        event = await asyncio.wait_for(first, 1)
        await stream.aclose()
        return event

    event = run(use())
    assert isinstance(event, Final) and event.finish_reason == "cancelled" and event.completion_tokens == 0


def test_cancel_before_the_stream_starts_sends_nothing():
    transport = MockTransport([])
    engine = RemoteEngine(BASE, "m", transport=transport)

    async def use():
        stream = engine.stream(chat())
        engine.cancel()
        return [event async for event in stream]

    events = run(use())
    assert [e.finish_reason for e in events] == ["cancelled"] and transport.requests == []


def test_cancel_when_idle_does_not_affect_the_next_reply():
    transport = MockTransport([MockResponse.sse(words("fine"))])
    engine = RemoteEngine(BASE, "m", transport=transport)
    engine.cancel()
    events = run(collect(engine))
    assert text_of(events) == "fine" and events[-1].finish_reason == "stop"


def test_an_outer_cancellation_is_not_swallowed():
    transport = MockTransport([MockResponse.sse(words(*["x"] * 50), split=40, delay=0.01)])
    engine = RemoteEngine(BASE, "m", transport=transport)

    async def use():
        task = asyncio.ensure_future(collect(engine))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(use())
    assert transport.responses[0].closed


def test_stopping_iteration_early_closes_the_response():
    transport = MockTransport([MockResponse.sse(words("a", "b", "c"))])
    engine = RemoteEngine(BASE, "m", transport=transport)

    async def use():
        stream = engine.stream(chat())
        async for _ in stream:
            break
        await stream.aclose()

    run(use())
    assert transport.responses[0].closed


# -- models, load ---------------------------------------------------------------------------------------

def test_list_models():
    transport = MockTransport(lambda r: MockResponse.json({"object": "list", "data": [{"id": "a"}, {"id": "m"}]}))
    engine = RemoteEngine(BASE, "m", transport=transport)
    assert run(engine.list_models()) == ["a", "m"]
    assert transport.requests[0].method == "GET" and transport.requests[0].url == BASE + "/models"
    assert transport.requests[0].headers["accept"] == "application/json"


@pytest.mark.parametrize("script, kind, words_", [
    (MockResponse.text("<html><title>Open WebUI</title></html>", content_type="text/html"), errors.ProtocolError, "web page"),
    (MockResponse.text("hello"), errors.ProtocolError, "not a model list"),
    (MockResponse.json({"detail": "Not Found"}, status=404), errors.NotFoundError, "/v1"),
    (MockResponse.json({"detail": "Invalid API key"}, status=401), errors.AuthError, "needs an API key"),
])
def test_list_models_failures(script, kind, words_):
    with pytest.raises(kind) as info:
        run(RemoteEngine(BASE, "m", transport=MockTransport([script])).list_models())
    assert words_ in str(info.value)


def test_load_checks_the_url_and_the_key_without_a_request():
    progress = []
    transport = MockTransport([])
    engine = RemoteEngine(BASE, "m", transport=transport)
    run(engine.load(progress.append))
    assert engine.loaded and [p.stage for p in progress] == ["checking", "ready"] and not transport.requests
    bad = RemoteEngine("localhost:8080/v1", "m", transport=MockTransport([]))  # constructing never raises
    with pytest.raises(errors.BadURLError, match="http://localhost:8080/v1"):
        run(bad.load())
    with pytest.raises(errors.BadURLError):
        run(collect(bad))


@pytest.mark.parametrize("url, words_", [
    ("", "Enter the server's base URL"),
    ("   ", "Enter the server's base URL"),
    ("localhost:11434/v1", "Did you mean http://localhost:11434/v1"),
    ("api.openai.com/v1", "Did you mean https://api.openai.com/v1"),
    ("http://local host:8080/v1", "contains a space"),
    ("ftp://example.com/v1", "not ftp://"),
    ("http:///v1", "no host"),
    ("http://localhost:99999/v1", "1 to 65535"),
    ("http://localhost:0/v1", "1 to 65535"),
    ("http://localhost:abc/v1", "1 to 65535"),
    ("https://user:sk-secret@api.example.com/v1", "user name or password"),
    ("https://api.example.com/v1?key=1", "query"),
    ("http://localhost:8080/v1/chat/completions", "Use http://localhost:8080/v1"),
    ("http://localhost:8080/v1/models", "stop before /models"),
])
def test_bad_urls_say_what_is_wrong(url, words_):
    with pytest.raises(errors.BadURLError) as info:
        validate_base_url(url)
    assert words_ in str(info.value)
    assert exit_status(info.value) == 2
    assert "sk-secret" not in str(info.value)


def test_good_urls_are_normalised():
    assert validate_base_url(" HTTP://localhost:11434/v1/ ") == "http://localhost:11434/v1"
    assert validate_base_url("https://[::1]:8443/api/v1") == "https://[::1]:8443/api/v1"
    assert validate_base_url("https://generativelanguage.googleapis.com/v1beta/openai/").endswith("/openai")


def test_repr_masks_the_key():
    engine = RemoteEngine(BASE, "m", api_key=KEY)
    assert KEY not in repr(engine) and "sk-…ghij" in repr(engine)


# -- the httpx transport against the loopback fake server -----------------------------------------------

@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


def http_engine(fake, behaviour, **kw):
    return RemoteEngine(fake.base_url(behaviour), "fake-model", transport=HttpxTransport(), **kw)


async def collect_and_close(engine, conversation=None):
    try:
        return await collect(engine, conversation)
    finally:
        await engine.aclose()


def test_httpx_normal_and_echo(fake):
    events = run(collect_and_close(http_engine(fake, "normal")))
    assert text_of(events) == "The quick brown fox jumps over the lazy dog."
    assert events[-1].prompt_tokens == 5 and events[-1].completion_tokens == 9
    events = run(collect_and_close(http_engine(fake, "echo"), chat("ping")))
    assert text_of(events) == "You said: ping"


@pytest.mark.parametrize("behaviour", ["crlf", "no-done", "json"])
def test_httpx_wire_variants(fake, behaviour):
    events = run(collect_and_close(http_engine(fake, behaviour)))
    assert text_of(events) == "The quick brown fox jumps over the lazy dog." and events[-1].finish_reason == "stop"


@pytest.mark.parametrize("behaviour, kind", [
    ("cut", errors.StreamCutError), ("cut-clean", errors.StreamCutError), ("bad-json", errors.ProtocolError),
    ("error-mid", errors.ServerError),
])
def test_httpx_failures_mid_stream(fake, behaviour, kind):
    with pytest.raises(kind) as info:
        run(collect_and_close(http_engine(fake, behaviour)))
    assert info.value.partial_text == "The quick"


@pytest.mark.parametrize("behaviour, kind", [
    ("status-401", errors.AuthError), ("status-403", errors.AuthError), ("status-404", errors.NotFoundError),
    ("status-429", errors.RateLimitError), ("status-500", errors.ServerError), ("status-503", errors.ServerError),
    ("status-400", errors.ContextLengthError),
])
def test_httpx_statuses(fake, behaviour, kind):
    with pytest.raises(kind) as info:
        run(collect_and_close(http_engine(fake, behaviour)))
    if kind is errors.RateLimitError:
        assert info.value.retry_after == 7


def test_httpx_auth_with_the_right_and_the_wrong_key(fake):
    with pytest.raises(errors.AuthError, match="rejected the API key"):
        run(collect_and_close(http_engine(fake, "normal+auth", api_key="sk-wrong-key-000000000")))
    events = run(collect_and_close(http_engine(fake, "normal+auth", api_key="sk-fake")))
    assert events[-1].finish_reason == "stop"


def test_httpx_refused_port_names_host_and_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(errors.NetworkError) as info:
        run(collect_and_close(RemoteEngine(f"http://127.0.0.1:{port}/v1", "m", transport=HttpxTransport())))
    assert f"127.0.0.1:{port}" in str(info.value) and "refused" in str(info.value)
    assert type(info.value) is errors.NetworkError and exit_status(info.value) == 4


def test_httpx_unknown_host():
    with pytest.raises(errors.NetworkError, match="Could not find the host 'no-such-host.invalid'"):
        run(collect_and_close(RemoteEngine("http://no-such-host.invalid/v1", "m", transport=HttpxTransport())))


def test_httpx_read_timeout_mid_stream(fake):
    engine = http_engine(fake, "slow-500", timeout=0.2)
    with pytest.raises(errors.RequestTimeoutError, match="sent nothing for 0.2 s"):
        run(collect_and_close(engine))


def test_httpx_cancel_mid_stream(fake):
    engine = http_engine(fake, "slow-30")

    async def use():
        events = []

        async def consume():
            async for event in engine.stream(chat()):
                events.append(event)

        task = asyncio.ensure_future(consume())
        while len(events) < 3:
            await asyncio.sleep(0.01)
        engine.cancel()
        await asyncio.wait_for(task, 2)
        # and the engine still works afterwards
        events2 = await collect(RemoteEngine(fake.base_url("normal"), "m", transport=engine.transport))
        await engine.aclose()
        return events, events2

    events, events2 = run(use())
    assert events[-1].finish_reason == "cancelled" and 3 <= events[-1].completion_tokens < 40
    assert events2[-1].finish_reason == "stop"


def test_httpx_list_models(fake):
    async def use():
        engine = http_engine(fake, None)
        try:
            return await engine.list_models()
        finally:
            await engine.aclose()

    assert "fake-model" in run(use())


def test_httpx_html_instead_of_api(fake):
    with pytest.raises(errors.ProtocolError):
        run(collect_and_close(http_engine(fake, "html")))


def test_httpx_transport_request_read(fake):
    async def use():
        transport = HttpxTransport()
        response = await transport.open(Request("GET", fake.base_url() + "/models"))
        try:
            return response.status, response.headers["content-type"], await response.read()
        finally:
            await response.aclose()
            await transport.aclose()

    status, content_type, body = run(use())
    assert status == 200 and content_type == "application/json" and json.loads(body)["data"]


# -- the fake server's CORS (the page's tests rely on it) ------------------------------------------------

def test_fake_server_preflight_allows_authorization(fake):
    response = httpx.options(fake.base_url() + "/chat/completions", headers={
        "Origin": "http://127.0.0.1:9999", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
        "Access-Control-Request-Private-Network": "true"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "http://127.0.0.1:9999"
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-private-network"] == "true"


def test_fake_server_cors_on_answers_and_off_by_flag(fake):
    headers = {"Origin": "http://127.0.0.1:9999"}
    on = httpx.post(fake.base_url() + "/chat/completions", json={"model": "status-429", "messages": []}, headers=headers)
    assert on.headers["access-control-allow-origin"] == "http://127.0.0.1:9999"
    assert "retry-after" in on.headers["access-control-expose-headers"].lower()
    off = httpx.get(fake.base_url("normal+nocors") + "/models", headers=headers)
    assert off.status_code == 200 and "access-control-allow-origin" not in off.headers
    pre = httpx.options(fake.base_url("normal+nocors") + "/models", headers={
        **headers, "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in pre.headers


def test_fake_server_with_cors_off_and_a_key():
    with FakeOpenAI(cors=False, api_key="sk-fake-server") as server:
        response = httpx.get(server.base_url() + "/models", headers={"Origin": "http://x"})
        assert response.status_code == 401 and "access-control-allow-origin" not in response.headers
        ok = httpx.get(server.base_url() + "/models", headers={"authorization": "Bearer sk-fake-server"})
        assert ok.status_code == 200
        assert server.requests[-1].headers["authorization"] == "Bearer sk-fake-server"


# -- browser helpers (pure) -----------------------------------------------------------------------------

def test_loopback_and_private_hosts():
    assert is_loopback("http://localhost:1/v1") and is_loopback("http://127.0.0.2/v1") and is_loopback("http://[::1]/v1")
    assert is_loopback("http://app.localhost/v1") and not is_loopback("http://192.168.1.2/v1")
    assert is_private("http://192.168.1.2/v1") and is_private("http://nas.local/v1") and not is_private("https://api.openai.com/v1")


def test_mixed_content():
    page = "https://me.github.io/pagellm/"
    error = mixed_content_error(page, "http://192.168.1.5:11434/v1/chat/completions")
    assert isinstance(error, errors.MixedContentError) and "http://192.168.1.5:11434." in error.message
    assert "https://" in error.hint and "/chat/completions" not in str(error)
    assert mixed_content_error(page, "http://localhost:11434/v1/models") is None
    assert mixed_content_error(page, "http://127.0.0.1:8080/v1/models") is None
    assert mixed_content_error(page, "https://api.openai.com/v1/models") is None
    assert mixed_content_error("http://127.0.0.1:8000/", "http://192.168.1.5/v1") is None
    assert mixed_content_error(None, "http://192.168.1.5/v1") is None


def test_failed_to_fetch_messages():
    origin, page = "https://me.github.io", "https://me.github.io/pagellm/"
    url = "http://localhost:11434/v1/chat/completions"
    cors = fetch_failed_error(url, origin=origin, page_url=page, provider="ollama", reachable=True)
    assert isinstance(cors, errors.CORSError)
    assert "OLLAMA_ORIGINS=https://me.github.io" in str(cors) and "local network" in str(cors)
    down = fetch_failed_error(url, origin=origin, page_url=page, provider="ollama", reachable=False)
    assert type(down) is errors.NetworkError and "localhost:11434" in str(down)
    unknown = fetch_failed_error("http://localhost:1234/v1/models", origin="http://127.0.0.1:8000", reachable=None)
    assert isinstance(unknown, errors.CORSError) and "Enable CORS" in str(unknown)  # guessed LM Studio by port
    assert "local network" not in str(unknown)  # a local page needs no permission
    vllm = fetch_failed_error("http://localhost:8000/v1/models", origin=origin, provider=get("vllm"), reachable=True)
    assert "--allowed-origins" in str(vllm)


# -- the terminal client ----------------------------------------------------------------------------------

def test_resolve_key_uses_a_provider_key_only_for_its_own_server():
    env = {"OPENAI_API_KEY": "sk-openai-aaaaaaaaaaaaaaaa", "PAGELLM_API_KEY": "sk-generic-bbbbbbbbbbbbbbb"}
    openai = get("openai")
    assert resolve_key(openai, "https://api.openai.com/v1", None, env)[0] == env["OPENAI_API_KEY"]
    key, source = resolve_key(openai, "http://attacker.example/v1", None, env)
    assert key == env["PAGELLM_API_KEY"] and "PAGELLM_API_KEY" in source
    assert resolve_key(openai, "http://attacker.example/v1", None, {"OPENAI_API_KEY": "x" * 20}) [0] is None
    assert resolve_key(get("custom"), "http://h/v1", "MY_KEY", {"MY_KEY": "k" * 20}) == ("k" * 20, "the environment variable MY_KEY")


def test_resolve_key_refuses_a_key_in_place_of_a_name():
    with pytest.raises(errors.InputError) as info:
        resolve_key(get("custom"), "http://h/v1", "sk-abc-123", {})
    assert "sk-abc-123" not in str(info.value)
    with pytest.raises(errors.AuthError, match="MISSING_VAR"):
        resolve_key(get("custom"), "http://h/v1", "MISSING_VAR", {})


def cli(argv, capsys, monkeypatch, env=None):
    for name in ("OPENAI_API_KEY", "PAGELLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code = cli_main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_streams_the_reply(fake, capsys, monkeypatch):
    code, out, err = cli(["--base-url", fake.base_url(), "--model", "echo", "--stats", "hello", "there"], capsys, monkeypatch)
    assert (code, out) == (0, "You said: hello there\n")
    assert "tokens" in err and "finish: stop" in err


def test_cli_reads_the_prompt_from_stdin(fake, capsys, monkeypatch):
    for name in ("OPENAI_API_KEY", "PAGELLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO("from stdin\n"))
    assert cli_main(["--base-url", fake.base_url(), "--model", "echo"]) == 0
    assert capsys.readouterr().out == "You said: from stdin\n"


def test_cli_list_models(fake, capsys, monkeypatch):
    code, out, _ = cli(["--base-url", fake.base_url(), "--list-models"], capsys, monkeypatch)
    assert code == 0 and out.splitlines()[0] == "fake-model"


@pytest.mark.parametrize("model, code, words_", [
    ("status-401", 5, "auth: "), ("status-404", 4, "not_found: "), ("status-429", 4, "Try again in 7 s"),
    ("status-500", 4, "server: "), ("cut", 4, "stream_cut: "), ("status-400", 4, "context_length: "),
])
def test_cli_errors_are_one_line_with_an_exit_status(fake, capsys, monkeypatch, model, code, words_):
    got, out, err = cli(["--base-url", fake.base_url(), "--model", model, "hi"], capsys, monkeypatch)
    assert got == code
    assert words_ in err and len(err.strip().splitlines()) == 1 and err.startswith("pagellm: ")


def test_cli_partial_text_then_the_error(fake, capsys, monkeypatch):
    code, out, err = cli(["--base-url", fake.base_url(), "--model", "cut", "hi"], capsys, monkeypatch)
    assert out == "The quick\n" and code == 4


def test_cli_refuses_a_key_on_the_command_line(capsys, monkeypatch):
    code, out, err = cli(["--base-url", "http://h/v1", "--api-key", "sk-oops-123456789", "hi"], capsys, monkeypatch)
    assert code == 2 and "sk-oops" not in err and "--api-key-env" in err


def test_cli_bad_url_and_missing_key(capsys, monkeypatch):
    code, _, err = cli(["--base-url", "localhost:8080/v1", "hi"], capsys, monkeypatch)
    assert code == 2 and "Did you mean http://localhost:8080/v1" in err
    code, _, err = cli(["--provider", "openai", "--model", "gpt-4o-mini", "hi"], capsys, monkeypatch)
    assert code == 5 and "OPENAI_API_KEY" in err


def test_cli_key_from_env_is_sent_and_never_printed(fake, capsys, monkeypatch):
    key = "sk-fake"  # what the fake server's +auth flag accepts
    code, out, err = cli(["--base-url", fake.base_url("normal+auth"), "--model", "m", "--api-key-env", "MY_TEST_KEY", "hi"],
                         capsys, monkeypatch, env={"MY_TEST_KEY": key})
    assert code == 0 and out.startswith("The quick")
    assert fake.requests[-1].headers["authorization"] == f"Bearer {key}"
    wrong = "sk-wrong-0123456789abcdef"
    code, out, err = cli(["--base-url", fake.base_url("normal+auth"), "--model", "m", "hi"], capsys, monkeypatch,
                         env={"PAGELLM_API_KEY": wrong})
    assert code == 5 and wrong not in err and "PAGELLM_API_KEY" in err


def test_cli_list_providers(capsys, monkeypatch):
    code, out, _ = cli(["--list-providers"], capsys, monkeypatch)
    assert code == 0 and "OLLAMA" not in out and "ollama" in out and "OPENAI_API_KEY" in out


# -- the browser transport for real: Pyodide in Node (fetch, ReadableStream, AbortController) ------------

NODE_RUNNER = r"""
import { loadPyodide } from %(pyodide)s;
import fs from "node:fs";
const py = await loadPyodide({ indexURL: %(index)s });
py.mountNodeFS("/pysrc", %(pysrc)s);
py.globals.set("FAKE", process.argv[3]);
py.globals.set("SILENT", process.argv[4]);
console.log(await py.runPythonAsync(fs.readFileSync(process.argv[2], "utf8")));
"""

PYODIDE_CHECKS = r"""
import asyncio, json, sys, time
sys.path.insert(0, "/pysrc")
from pagellm import errors
from pagellm.messages import Conversation
from pagellm.remote import RemoteEngine
from pagellm.transports import default_transport
from pagellm.transports.browser import BrowserTransport

results = {"platform": sys.platform, "transport": type(default_transport()).__name__}
chat = Conversation(); chat.add_user("hi there")

async def run(url, **kw):
    engine = RemoteEngine(url, "fake-model", **kw)
    events = []
    try:
        async for event in engine.stream(chat):
            events.append(event)
        return {"text": "".join(e.text for e in events[:-1] if e.kind == "content"),
                "reasoning": "".join(e.text for e in events[:-1] if e.kind == "reasoning"),
                "finish": events[-1].finish_reason, "tokens": events[-1].completion_tokens}
    except errors.PagellmError as err:
        return {"error": type(err).__name__, "message": str(err), "partial": err.partial_text}

for behaviour in ["echo", "reasoning", "crlf", "json", "cut", "error-mid", "status-401", "status-429", "html"]:
    results[behaviour] = await run(FAKE.replace("/v1", f"/{behaviour}/v1"), api_key="sk-browser-0123456789abcdef")
results["refused"] = await run("http://127.0.0.1:9/v1")
results["timeout"] = await run(FAKE.replace("/v1", "/slow-500/v1"), timeout=0.2)
results["header-timeout"] = await run(SILENT, timeout=0.3, connect_timeout=0.3)
results["mixed"] = await run("http://192.168.1.77:11434/v1", provider="ollama",
                             transport=BrowserTransport(origin="https://me.github.io"))
results["models"] = await RemoteEngine(FAKE, "x").list_models()

async def cancel(url, wait_for):
    engine = RemoteEngine(url, "x")
    events = []
    async def consume():
        async for event in engine.stream(chat):
            events.append(event)
    task = asyncio.ensure_future(consume())
    await wait_for(events)
    engine.cancel()
    await asyncio.wait_for(task, 3)
    return [events[-1].finish_reason, events[-1].completion_tokens]

async def three(events):
    while len(events) < 3:
        await asyncio.sleep(0.01)

async def half_second(events):
    await asyncio.sleep(0.5)

results["cancel-mid-stream"] = await cancel(FAKE.replace("/v1", "/slow-50/v1"), three)
results["cancel-before-headers"] = await cancel(SILENT, half_second)

engine = RemoteEngine(FAKE.replace("/v1", "/tokens-5000/v1"), "x")
started = time.perf_counter()
count = 0
async for event in engine.stream(chat):
    count += 1
results["throughput"] = round((count - 1) / (time.perf_counter() - started))
json.dumps(results)
"""


@pytest.fixture(scope="module")
def pyodide_results(fake, tmp_path_factory):
    import shutil
    import socket
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pyodide = root / "node_modules" / "pyodide" / "pyodide.mjs"
    node = shutil.which("node")
    if node is None or not pyodide.exists():
        pytest.skip("needs node and the npm package pyodide (npm ci) to run the browser transport in Pyodide")
    folder = tmp_path_factory.mktemp("pyodide")
    runner, script = folder / "run.mjs", folder / "checks.py"
    runner.write_text(NODE_RUNNER % {"pyodide": json.dumps(str(pyodide)), "index": json.dumps(str(pyodide.parent) + "/"),
                                     "pysrc": json.dumps(str(root / "pysrc"))})
    script.write_text(PYODIDE_CHECKS)
    silent = socket.socket()  # accepts connections (backlog) but never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        result = subprocess.run([node, str(runner), str(script), fake.base_url(),
                                 f"http://127.0.0.1:{silent.getsockname()[1]}/v1"],
                                capture_output=True, text=True, timeout=180)
    finally:
        silent.close()
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_pyodide_picks_the_browser_transport(pyodide_results):
    assert pyodide_results["platform"] == "emscripten" and pyodide_results["transport"] == "BrowserTransport"


def test_pyodide_streams(pyodide_results):
    r = pyodide_results
    assert r["echo"] == {"text": "You said: hi there", "reasoning": "", "finish": "stop", "tokens": 4}
    assert r["reasoning"]["reasoning"] == "Let me think. Still thinking." and r["reasoning"]["text"] == "The answer is 4."
    assert r["crlf"]["text"] == r["json"]["text"] == "The quick brown fox jumps over the lazy dog."
    assert "fake-model" in r["models"]


def test_pyodide_failures(pyodide_results):
    r = pyodide_results
    assert r["cut"]["error"] == "StreamCutError" and r["cut"]["partial"] == "The quick"
    assert r["error-mid"]["error"] == "ServerError" and r["error-mid"]["partial"] == "The quick"
    assert r["status-401"]["error"] == "AuthError" and "sk-browser" not in r["status-401"]["message"]
    assert r["status-429"]["error"] == "RateLimitError" and "Try again in 7 s" in r["status-429"]["message"]
    assert r["html"]["error"] == "ProtocolError"
    assert r["refused"]["error"] == "NetworkError" and "127.0.0.1:9" in r["refused"]["message"]
    assert r["timeout"]["error"] == "RequestTimeoutError" and "0.2 s" in r["timeout"]["message"]
    assert r["header-timeout"]["error"] == "RequestTimeoutError"
    assert r["mixed"]["error"] == "MixedContentError"


def test_pyodide_cancel(pyodide_results):
    finish, tokens = pyodide_results["cancel-mid-stream"]
    assert finish == "cancelled" and 3 <= tokens < 40
    assert pyodide_results["cancel-before-headers"] == ["cancelled", 0]


def test_pyodide_keeps_up_with_2000_tokens_per_second(pyodide_results):
    assert pyodide_results["throughput"] > 2000
