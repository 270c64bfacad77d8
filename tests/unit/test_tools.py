"""Tools: schemas from type hints and docstrings, argument checks, the remote call loop over the mock
transport (streamed tool_calls deltas split anywhere), its typed errors, and structured answers."""

from __future__ import annotations

import asyncio
import json
from typing import Literal, Optional

import pytest

from pagellm import errors
from pagellm.engine import Delta, Final
from pagellm.messages import Conversation
from pagellm.remote import RemoteEngine
from pagellm.schema import validate
from pagellm.tools import ToolCallEvent, ToolResultEvent, tool
from pagellm.transports.mock import MockResponse, MockTransport

BASE = "http://test.local:8000/v1"


@tool
def weather(city: str, unit: Literal["C", "F"] = "C", days: Optional[int] = None, tags: list[str] = ()) -> dict:
    """The weather in a city.

    Args:
        city: where
        unit: degrees Celsius or Fahrenheit
    """
    if city == "Atlantis":
        raise LookupError("no such city")
    return {"city": city, "temperature": 21 if unit == "C" else 70}


def test_the_schema_comes_from_type_hints_and_the_docstring():
    assert weather.to_openai() == {"type": "function", "function": {
        "name": "weather", "description": "The weather in a city.",
        "parameters": {"type": "object", "required": ["city"], "additionalProperties": False, "properties": {
            "city": {"type": "string", "description": "where"},
            "unit": {"enum": ["C", "F"], "description": "degrees Celsius or Fahrenheit"},
            "days": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}}}}}}


def test_a_parameter_of_an_unusable_type_is_refused_when_the_tool_is_made():
    with pytest.raises(TypeError, match="cannot be of type"):
        @tool
        def bad(when: complex) -> str:
            return ""


@pytest.mark.parametrize("arguments, message", [
    ('{"city": ', "not JSON"),
    ("[1, 2]", "list arguments"),
    ('{"unit": "C"}', "missing required field 'city'"),
    ('{"city": "Oslo", "unit": "K"}', "is not one of"),
    ('{"city": "Oslo", "colour": "red"}', "unexpected field 'colour'"),
    ('{"city": 7}', "expected string at city"),
])
def test_arguments_that_do_not_fit_are_a_typed_error(arguments, message):
    with pytest.raises(errors.ToolArgumentsError, match=message):
        asyncio.run(weather.call(arguments))


def test_a_tool_that_raises_is_a_typed_error_naming_it():
    with pytest.raises(errors.ToolFailedError, match="weather failed: LookupError: no such city"):
        asyncio.run(weather.call({"city": "Atlantis"}))


def test_the_schema_checker_covers_nested_answers():
    schema = {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["name"],
                                                         "properties": {"age": {"type": "integer", "minimum": 0}}}}
    assert validate([{"name": "Ada", "age": 36}], schema) is None
    assert validate([], schema) == "expected at least 1 items"
    assert validate([{"name": "Ada", "age": -1}], schema) == "-1 at [0].age is below the minimum 0"
    assert validate([{"name": "Ada", "age": True}], schema).startswith("expected integer at [0].age")


# -- the remote loop --------------------------------------------------------------------------------

def tool_call_chunks(calls, split=5):
    """A streamed assistant turn that calls tools; each call's arguments arrive in pieces of `split` chars."""
    return MockResponse.sse(tool_call_payloads(calls, split))


def tool_call_payloads(calls, split=5):
    payloads = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]}]
    for index, (call_id, name, arguments) in enumerate(calls):
        payloads.append({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}]}}]})
        for start in range(0, len(arguments), split):
            payloads.append({"choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": index, "function": {"arguments": arguments[start:start + split]}}]}}]})
    payloads.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    return payloads


def answer(text):
    return MockResponse.sse([{"choices": [{"index": 0, "delta": {"content": text}}]},
                             {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}])


def run_with_tools(script, tools=(weather,), **options):
    transport = MockTransport(script)
    engine = RemoteEngine(BASE, "m", transport=transport, provider="custom")
    chat = Conversation()
    chat.add_user("Weather in Oslo and Paris?")

    async def go():
        return [event async for event in engine.stream(chat, tools=list(tools), **options)]

    return asyncio.run(go()), transport


def test_the_loop_runs_each_call_feeds_the_results_back_and_streams_the_answer():
    events, transport = run_with_tools([
        tool_call_chunks([("c1", "weather", '{"city": "Oslo"}'), ("c2", "weather", '{"city": "Paris", "unit": "F"}')]),
        answer("Oslo 21, Paris 70."),
    ])
    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert [(c.id, c.arguments) for c in calls] == [("c1", '{"city": "Oslo"}'), ("c2", '{"city": "Paris", "unit": "F"}')]
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    assert [json.loads(r.output)["temperature"] for r in results] == [21, 70] and all(r.ok for r in results)
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "Oslo 21, Paris 70."
    assert isinstance(events[-1], Final) and events[-1].finish_reason == "stop"
    first, second = (json.loads(r.body) for r in transport.requests)
    assert first["tools"][0]["function"]["name"] == "weather"
    assistant, *tool_messages = second["messages"][-3:]
    assert assistant["tool_calls"][1]["function"] == {"name": "weather", "arguments": '{"city": "Paris", "unit": "F"}'}
    assert [(m["role"], m["tool_call_id"]) for m in tool_messages] == [("tool", "c1"), ("tool", "c2")]


def test_a_failing_tool_is_reported_to_the_model_which_answers():
    events, transport = run_with_tools([tool_call_chunks([("c1", "weather", '{"city": "Atlantis"}')]),
                                        answer("I could not find Atlantis.")])
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert not result.ok and "no such city" in result.output
    assert json.loads(transport.requests[1].body)["messages"][-1]["content"] == result.output


@pytest.mark.parametrize("name, arguments, error", [
    ("launch_rockets", "{}", errors.UnknownToolError),
    ("weather", '{"town": "Oslo"}', errors.ToolArgumentsError),
])
def test_a_call_the_model_should_not_make_is_a_typed_error(name, arguments, error):
    with pytest.raises(error):
        run_with_tools([tool_call_chunks([("c1", name, arguments)])])


def test_a_loop_that_does_not_end_stops_at_the_step_limit():
    endless = lambda request: tool_call_chunks([("c", "weather", '{"city": "Oslo"}')])  # noqa: E731
    with pytest.raises(errors.ToolLoopError, match="after 3 rounds"):
        run_with_tools(endless, max_steps=3)


def test_response_format_is_passed_through():
    _, transport = run_with_tools([answer("{}")], tools=(), response_format={"type": "json_object"})
    body = json.loads(transport.requests[0].body)
    assert body["response_format"] == {"type": "json_object"} and "tools" not in body


# -- local models: tool calls written as text -------------------------------------------------------

def test_calls_written_as_text_are_found_and_the_text_around_them_kept():
    from pagellm.tools import calls_in_text

    content, calls = calls_in_text('Checking both.\n<tool_call>\n{"name": "weather", "arguments": {"city": "Oslo"}}\n'
                                   '</tool_call>\n<tool_call>{"name": "weather", "parameters": {"city": "Rome"}}</tool_call>')
    assert content == "Checking both."
    assert [(c.id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("call_0", "weather", {"city": "Oslo"}), ("call_1", "weather", {"city": "Rome"})]
    assert calls_in_text("No tools needed.") == ("No tools needed.", [])
    with pytest.raises(errors.ToolArgumentsError, match="not JSON"):
        calls_in_text('<tool_call>{"name": "weather", "arguments": {"city": </tool_call>')
    with pytest.raises(errors.ToolArgumentsError, match="without a tool name"):
        calls_in_text('<tool_call>{"arguments": {}}</tool_call>')


def test_which_chat_templates_take_tools():
    import pathlib

    from pagellm.tools import template_supports_tools

    bundled = pathlib.Path(__file__).resolve().parents[2] / "models" / "build" / "smollm2-135m-instruct"
    if (bundled / "tokenizer_config.json").exists():  # built by the recipe: SmolLM2's template has no tools
        assert not template_supports_tools(json.loads((bundled / "tokenizer_config.json").read_text())["chat_template"])
    qwen_like = "{%- if tools %}<tools>{%- for tool in tools %}{{ tool | tojson }}{%- endfor %}</tools>{%- endif %}"
    assert template_supports_tools(qwen_like)
    assert template_supports_tools({"default": "{{ messages }}", "tool_use": qwen_like})


def test_a_tool_may_decline_in_its_own_words_and_rounds_are_separate_paragraphs():
    @tool
    def careful(x: int) -> str:
        """Declines."""
        raise errors.ToolFailedError("The user declined to run careful.")

    first = MockResponse.sse([{"choices": [{"index": 0, "delta": {"content": "Let me try."}}]},
                              *tool_call_payloads([("c1", "careful", '{"x": 1}')])[1:]])
    events, transport = run_with_tools([first, answer("It was declined.")], tools=(careful,))
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert result.output == "The user declined to run careful." and not result.ok
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "Let me try.\n\nIt was declined."
