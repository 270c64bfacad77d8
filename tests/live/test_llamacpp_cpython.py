"""The remote engine and the terminal client against a real llama.cpp server (llama-cpp-python) on loopback."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from pagellm import errors
from pagellm.cli import exit_status
from pagellm.engine import Delta, Final
from pagellm.messages import Conversation
from pagellm.remote import RemoteEngine
from pagellm.settings import GenerationSettings

from tests.llama_server import ALIAS, LIVE_KEY, ROOT, free_port

GREEDY = GenerationSettings(temperature=0, max_new_tokens=24, seed=1)


def ask(text: str, system: str = "") -> Conversation:
    conversation = Conversation(system_prompt=system)
    conversation.add_user(text)
    return conversation


def engine_for(server, **kw) -> RemoteEngine:
    return RemoteEngine(server.base_url, kw.pop("model", ALIAS), provider="llamacpp", timeout=60, **kw)


async def collect(engine: RemoteEngine, conversation: Conversation, settings=GREEDY, stop_after: int | None = None,
                  on_delta=None) -> list:
    events = []
    try:
        async for event in engine.stream(conversation, settings):
            events.append(event)
            if isinstance(event, Delta) and on_delta is not None:
                on_delta(events)
            if stop_after is not None and len(events) == stop_after:
                engine.cancel()
    finally:
        await engine.aclose()
    return events


def text_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, Delta) and e.kind == "content")


def cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("PAGELLM_API_KEY", "OPENAI_API_KEY")}
    return subprocess.run([sys.executable, "-m", "pagellm", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env={**clean, **(env or {})}, stdin=subprocess.DEVNULL)


# -- the happy path ----------------------------------------------------------------------------------

def test_list_models(llama_server):
    engine = engine_for(llama_server)

    async def use():
        try:
            return await engine.list_models()
        finally:
            await engine.aclose()

    assert asyncio.run(use()) == [ALIAS]


def test_streamed_answer(llama_server):
    events = asyncio.run(collect(engine_for(llama_server), ask("What is the capital of France?")))
    deltas, final = events[:-1], events[-1]
    assert isinstance(final, Final) and final.finish_reason in ("stop", "length")
    assert len(deltas) >= 3 and all(isinstance(d, Delta) for d in deltas)  # token by token, not in one piece
    assert text_of(events).strip()
    assert final.completion_tokens == len(deltas) and final.tokens_per_second and final.time_to_first_token is not None


def test_stop_mid_reply_then_ask_again(llama_server):
    long = GenerationSettings(temperature=0, max_new_tokens=200)
    events = asyncio.run(collect(engine_for(llama_server), ask("Tell me a long story about a dragon."), long,
                                 stop_after=4))
    assert events[-1].finish_reason == "cancelled" and len(events) == 5
    again = asyncio.run(collect(engine_for(llama_server), ask("Say hello.")))
    assert again[-1].finish_reason in ("stop", "length") and text_of(again)


def test_context_overflow_streamed(llama_server):
    # llama-cpp-python answers a streamed prompt over its context with 200 and an empty body.
    with pytest.raises(errors.StreamCutError) as info:
        asyncio.run(collect(engine_for(llama_server), ask("word " * 1500)))
    assert "too long" in str(info.value)


def test_cli_streams_an_answer(llama_server):
    result = cli("--provider", "llamacpp", "--base-url", llama_server.base_url, "--model", ALIAS,
                 "--temperature", "0", "--max-tokens", "16", "--stats", "Say hello.")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() and "tokens" in result.stderr


def test_cli_lists_models(llama_server):
    result = cli("--base-url", llama_server.base_url, "--list-models")
    assert (result.returncode, result.stdout) == (0, ALIAS + "\n")


# -- keys ------------------------------------------------------------------------------------------------

def test_wrong_key_gives_the_401_message(llama_server_with_key):
    wrong = "sk-wrong-key-9876543210fedcba"
    with pytest.raises(errors.AuthError) as info:
        asyncio.run(collect(engine_for(llama_server_with_key, api_key=wrong), ask("Hi")))
    message = str(info.value)
    assert f"127.0.0.1:{llama_server_with_key.port} rejected the API key (HTTP 401): Invalid API key" in message
    assert wrong not in message and exit_status(info.value) == 5


def test_missing_key_gives_the_401_message(llama_server_with_key):
    with pytest.raises(errors.AuthError, match="needs an API key"):
        asyncio.run(collect(engine_for(llama_server_with_key), ask("Hi")))


def test_right_key_works(llama_server_with_key):
    events = asyncio.run(collect(engine_for(llama_server_with_key, api_key=LIVE_KEY), ask("Say hello.")))
    assert events[-1].finish_reason in ("stop", "length") and text_of(events)


def test_cli_wrong_key_from_the_environment(llama_server_with_key):
    wrong = "sk-wrong-key-from-env-00000000"
    result = cli("--base-url", llama_server_with_key.base_url, "--model", ALIAS, "Hi", env={"PAGELLM_API_KEY": wrong})
    assert result.returncode == 5
    assert "rejected the API key (HTTP 401): Invalid API key" in result.stderr and wrong not in result.stderr
    ok = cli("--base-url", llama_server_with_key.base_url, "--model", ALIAS, "--max-tokens", "8",
             "--api-key-env", "MY_LLAMA_KEY", "Hi", env={"MY_LLAMA_KEY": LIVE_KEY})
    assert ok.returncode == 0, ok.stderr


# -- failures ----------------------------------------------------------------------------------------------

def test_server_killed_mid_reply_keeps_the_partial_text_and_a_retry_works(own_llama_server):
    server = own_llama_server
    long = GenerationSettings(temperature=0, max_new_tokens=300)
    seen: list[Delta] = []

    def kill_after_five(events):
        seen[:] = [e for e in events if isinstance(e, Delta)]
        if len(seen) == 5:
            server.kill()

    with pytest.raises((errors.StreamCutError, errors.NetworkError)) as info:
        asyncio.run(collect(engine_for(server), ask("Tell me a long story about a dragon."), long,
                            on_delta=kill_after_five))
    partial = "".join(d.text for d in seen)
    assert len(seen) >= 5 and partial
    assert info.value.partial_text == partial
    assert "127.0.0.1" in str(info.value) or "reply" in str(info.value)
    # while it is down: the network message
    with pytest.raises(errors.NetworkError, match=f"Nothing is listening on 127.0.0.1:{server.port}"):
        asyncio.run(collect(engine_for(server), ask("Hello?")))
    # restarted on the same port: the same question now gets an answer
    server.start()
    events = asyncio.run(collect(engine_for(server), ask("Tell me a long story about a dragon."),
                                 GenerationSettings(temperature=0, max_new_tokens=12)))
    assert events[-1].finish_reason in ("stop", "length") and text_of(events)


def test_unreachable_port_gives_the_network_message():
    port = free_port()
    engine = RemoteEngine(f"http://127.0.0.1:{port}/v1", ALIAS, provider="llamacpp", timeout=10)
    with pytest.raises(errors.NetworkError) as info:
        asyncio.run(collect(engine, ask("Hi")))
    assert type(info.value) is errors.NetworkError
    assert str(info.value) == (f"Nothing is listening on 127.0.0.1:{port} (connection refused). "
                               "Is the server running? Check the port in the base URL.")
    result = cli("--base-url", f"http://127.0.0.1:{port}/v1", "--model", ALIAS, "Hi")
    assert result.returncode == 4 and f"Nothing is listening on 127.0.0.1:{port}" in result.stderr
