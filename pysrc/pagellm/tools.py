"""Tools a model can call: plain Python functions with a JSON schema made from their signature.

    >>> @tool
    ... def add(a: int, b: int = 1) -> int:
    ...     '''Add two numbers.
    ...
    ...     Args:
    ...         a: the first number
    ...         b: the second number
    ...     '''
    ...     return a + b
    >>> add.name, add.description, add.parameters["required"]
    ('add', 'Add two numbers.', ['a'])
    >>> add.parameters["properties"]["a"]
    {'type': 'integer', 'description': 'the first number'}
    >>> import asyncio; asyncio.run(add.call('{"a": 2, "b": 3}'))
    '5'

A call with arguments that do not fit the schema raises ``ToolArgumentsError``; a function that raises
gives ``ToolFailedError``; a name no tool has, ``UnknownToolError``. ``ToolCalls`` assembles the
streamed ``tool_calls`` deltas of an OpenAI-compatible server.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import ToolArgumentsError, ToolFailedError, UnknownToolError
from .schema import validate

MAX_RESULT_CHARS = 20_000  # what a tool result may give back to the model


@dataclass
class Tool:
    name: str
    description: str
    parameters: dict
    function: Callable[..., Any]

    def to_openai(self) -> dict:
        return {"type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}

    def arguments(self, raw: str | dict) -> dict:
        """The call's arguments, parsed and checked against the schema."""
        if isinstance(raw, dict):
            values = raw
        else:
            try:
                values = json.loads(raw or "{}")
            except ValueError:
                raise ToolArgumentsError(f"The model called {self.name} with arguments that are not JSON: "
                                         f"{str(raw)[:200]!r}.") from None
        if not isinstance(values, dict):
            raise ToolArgumentsError(f"The model called {self.name} with {type(values).__name__} arguments, "
                                     "not an object.")
        problem = validate(values, self.parameters)
        if problem:
            raise ToolArgumentsError(f"The model called {self.name} with wrong arguments: {problem}.")
        return values

    async def call(self, raw: str | dict) -> str:
        """Run the tool; its result as text for the model (JSON unless it returned a string)."""
        values = self.arguments(raw)
        try:
            result = self.function(**values)
            if inspect.isawaitable(result):
                result = await result
        except (asyncio.CancelledError, ToolFailedError):
            raise  # a tool may decline or fail in its own words: raise ToolFailedError("...")
        except Exception as err:  # the model gets told, the conversation goes on
            raise ToolFailedError(f"The tool {self.name} failed: {type(err).__name__}: {err}") from err
        text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)
        return text if len(text) <= MAX_RESULT_CHARS else text[:MAX_RESULT_CHARS] + " …[cut]"


def tool(function: Callable | None = None, *, name: str | None = None, description: str | None = None):
    """Make a Tool of a function: parameters from its type hints, descriptions from its docstring."""
    def make(fn: Callable) -> Tool:
        summary, documented = _docstring(fn)
        return Tool(name or fn.__name__, description or summary or fn.__name__, _parameters(fn, documented), fn)

    return make(function) if function is not None else make


async def run_calls(tools: list[Tool], calls: list["ToolCall"]):
    """Run a round of calls in turn: a ``ToolCallEvent`` before each, a ``ToolResultEvent`` after. A tool
    that fails (``ToolFailedError``) gives the model its message as the result; any other ToolError raises."""
    for call in calls:
        yield ToolCallEvent(call)
        try:
            output, ok = await find(tools, call.name).call(call.arguments), True
        except ToolFailedError as err:
            output, ok = str(err), False
        yield ToolResultEvent(call, output, ok)


def find(tools: list[Tool], name: str) -> Tool:
    for candidate in tools:
        if candidate.name == name:
            return candidate
    offered = ", ".join(t.name for t in tools) or "none"
    raise UnknownToolError(f"The model called a tool it was not given, {name!r} (offered: {offered}).")


# -- schema from a signature -------------------------------------------------------------------------

_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _schema_of(hint: Any) -> dict:
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    if hint in (Any, inspect.Parameter.empty):
        return {}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (list, tuple, set, frozenset) or hint in (list, tuple, set):
        return {"type": "array", **({"items": _schema_of(args[0])} if args else {})}
    if origin is dict or hint is dict:
        return {"type": "object"}
    if origin in (typing.Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        if len(kinds) == 1:
            return _schema_of(kinds[0])
        return {"anyOf": [_schema_of(a) for a in kinds]}
    raise TypeError(f"A tool parameter cannot be of type {hint!r}: use str, int, float, bool, list, dict or Literal.")


def _parameters(fn: Callable, documented: dict[str, str]) -> dict:
    hints = typing.get_type_hints(fn)
    properties, required = {}, []
    for parameter in inspect.signature(fn).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        schema = _schema_of(hints.get(parameter.name, inspect.Parameter.empty))
        if parameter.name in documented:
            schema["description"] = documented[parameter.name]
        properties[parameter.name] = schema
        if parameter.default is parameter.empty:
            required.append(parameter.name)
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _docstring(fn: Callable) -> tuple[str, dict[str, str]]:
    """The first paragraph, and the parameter descriptions of a Google-style ``Args:`` section."""
    text = inspect.getdoc(fn) or ""
    summary = text.split("\n\n", 1)[0].strip().replace("\n", " ")
    documented: dict[str, str] = {}
    section = re.search(r"^(?:Args|Arguments|Parameters):\s*\n((?:[ \t]+.*\n?)+)", text, re.MULTILINE)
    if section:
        current = None
        for line in section.group(1).splitlines():
            match = re.match(r"\s+(\w+)(?:\s*\([^)]*\))?:\s*(.*)", line)
            if match:
                current = match.group(1)
                documented[current] = match.group(2).strip()
            elif current and line.strip():
                documented[current] += " " + line.strip()
    return summary, documented


# -- the wire: calls as the model makes them --------------------------------------------------------

@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str = ""

    def to_openai(self) -> dict:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class ToolCalls:
    """Streamed ``tool_calls`` deltas put together: each call arrives as pieces under its ``index``.

    >>> calls = ToolCalls()
    >>> calls.feed([{"index": 0, "id": "c1", "function": {"name": "add", "arguments": '{"a": '}}])
    >>> calls.feed([{"index": 0, "function": {"arguments": '2}'}}])
    >>> calls.calls()
    [ToolCall(id='c1', name='add', arguments='{"a": 2}')]
    """

    _by_index: dict[int, ToolCall] = field(default_factory=dict)

    def feed(self, deltas: list) -> None:
        for position, delta in enumerate(deltas if isinstance(deltas, list) else []):
            if not isinstance(delta, dict):
                continue
            index = delta.get("index", position)
            call = self._by_index.setdefault(index, ToolCall(id="", name=""))
            if delta.get("id"):
                call.id = str(delta["id"])
            function = delta.get("function") or {}
            if function.get("name"):
                call.name += str(function["name"])
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                call.arguments += arguments
            elif isinstance(arguments, dict):  # some servers send the object itself
                call.arguments = json.dumps(arguments)

    def calls(self) -> list[ToolCall]:
        out = []
        for index in sorted(self._by_index):
            call = self._by_index[index]
            if not call.id:
                call.id = f"call_{index}"
            out.append(call)
        return out

    def __bool__(self) -> bool:
        return bool(self._by_index)


@dataclass
class ToolCallEvent:
    """The model asked for a tool (yielded before it runs)."""

    call: ToolCall


@dataclass
class ToolResultEvent:
    """A tool's result (or the error the model was told instead)."""

    call: ToolCall
    output: str
    ok: bool = True


# -- tool calls written as text (local models) --------------------------------------------------------

_TEXT_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


def template_supports_tools(template: Any) -> bool:
    """Whether a chat template renders a ``tools`` list (Qwen2.5, Llama 3.1+, Hermes do; SmolLM2's does not).

    >>> template_supports_tools("{% for m in messages %}{{ m.content }}{% endfor %}")
    False
    >>> template_supports_tools("{% if tools %}<tools>{{ tools | tojson }}</tools>{% endif %}")
    True
    """
    if isinstance(template, dict):  # named templates: {"default": ..., "tool_use": ...}
        return "tool_use" in template or any(template_supports_tools(t) for t in template.values())
    if isinstance(template, list):
        return any(template_supports_tools(t.get("template") if isinstance(t, dict) else t) for t in template)
    return isinstance(template, str) and re.search(r"\btools\b", template) is not None


def calls_in_text(text: str) -> tuple[str, list[ToolCall]]:
    """The text without its ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks (the form
    Qwen2.5 and Hermes templates teach), and the calls.

    >>> calls_in_text('Let me check.<tool_call>{"name": "add", "arguments": {"a": 2}}</tool_call>')
    ('Let me check.', [ToolCall(id='call_0', name='add', arguments='{"a": 2}')])
    """
    calls = []
    for index, match in enumerate(_TEXT_CALL.finditer(text)):
        try:
            data = json.loads(match.group(1))
        except ValueError:
            raise ToolArgumentsError(f"The model wrote a tool call that is not JSON: {match.group(1)[:200]!r}.") from None
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise ToolArgumentsError(f"The model wrote a tool call without a tool name: {match.group(1)[:200]!r}.")
        arguments = data.get("arguments", data.get("parameters", {}))
        calls.append(ToolCall(f"call_{index}", data["name"],
                              arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)))
    return _TEXT_CALL.sub("", text).strip(), calls
