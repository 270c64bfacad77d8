"""Structured answers: the schema reaches the model (and a remote server as response_format), answers
in fences or with words around them parse, a wrong answer is retried once with the problem, then refused."""

from __future__ import annotations

import asyncio
import json

import pytest

from pagellm.engine import Delta, Final
from pagellm.errors import SchemaError
from pagellm.messages import Conversation
from pagellm.remote import RemoteEngine
from pagellm.structured import ask_json
from pagellm.transports.mock import MockResponse, MockTransport

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
          "required": ["city", "population"], "additionalProperties": False}


class ScriptedLocal:
    """Answers in turn from a script, like the local engine (reads a Conversation)."""

    def __init__(self, *answers):
        self.answers, self.seen = list(answers), []

    async def stream(self, conversation, settings=None):
        self.seen.append(conversation.for_model())
        yield Delta(self.answers.pop(0))
        yield Final("stop", 1)


def ask(engine, conversation=None):
    chat = conversation or Conversation(system_prompt="Be terse.")
    if conversation is None:
        chat.add_user("The largest city of Norway?")
    return asyncio.run(ask_json(engine, chat, SCHEMA))


def test_an_answer_in_a_code_fence_parses_and_the_schema_is_in_the_instruction():
    engine = ScriptedLocal('Here you go:\n```json\n{"city": "Oslo", "population": 709000}\n```')
    assert ask(engine) == {"city": "Oslo", "population": 709000}
    system = engine.seen[0][0]["content"]
    assert system.startswith("Be terse.") and '"required": ["city", "population"]' in system


def test_a_wrong_answer_is_retried_once_with_the_problem_then_accepted():
    engine = ScriptedLocal('{"city": "Oslo"}', '{"city": "Oslo", "population": 709000}')
    assert ask(engine)["population"] == 709000
    retry = engine.seen[1]
    assert retry[-2] == {"role": "assistant", "content": '{"city": "Oslo"}'}
    assert "missing required field 'population'" in retry[-1]["content"]


def test_two_wrong_answers_raise_a_schema_error_naming_the_problem():
    with pytest.raises(SchemaError, match="holds no JSON value"):
        ask(ScriptedLocal("Oslo, I think.", "Still Oslo."))


def test_a_remote_engine_gets_the_schema_as_response_format():
    transport = MockTransport([MockResponse.sse([
        {"choices": [{"index": 0, "delta": {"content": '{"city": "Oslo", "population": 709000}'}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}])])
    engine = RemoteEngine("http://test.local/v1", "m", transport=transport, provider="custom")
    assert ask(engine)["city"] == "Oslo"
    body = json.loads(transport.requests[0].body)
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}}
