"""Answers as JSON of a given schema, checked, with one retry that tells the model what was wrong.

    value = await ask_json(engine, conversation, {"type": "object", "properties": {"city": {"type": "string"}},
                                                  "required": ["city"]})

The model is told the schema (as an instruction after the conversation's system prompt); a remote engine
also gets it as ``response_format`` (``json_schema``), which servers that support it enforce. The answer
may come in a code fence or with words around it: the first JSON value in it is taken. When it does not
parse or does not fit, the model sees its answer and the problem once and answers again; a second miss
raises ``SchemaError``. The caller's conversation is not changed.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .engine import Delta
from .errors import SchemaError
from .messages import Conversation
from .schema import validate
from .settings import GenerationSettings

INSTRUCTION = ("Answer with JSON only: one value that follows this JSON Schema, with no words, comments or code "
               "fences around it.\nSchema: {schema}")


def extract_json(text: str) -> Any:
    """The first JSON value in a model's answer (a code fence or words around it are skipped).

    >>> extract_json('Sure! ```json\\n{"a": [1, 2]}\\n``` Hope this helps.')
    {'a': [1, 2]}
    >>> extract_json("no json here")
    Traceback (most recent call last):
    ...
    ValueError: the answer holds no JSON value
    """
    decoder = json.JSONDecoder()
    for index, char in enumerate(text):
        if char in "{[":
            try:
                return decoder.raw_decode(text, index)[0]
            except ValueError:
                continue
    raise ValueError("the answer holds no JSON value")


def _request(conversation: Conversation | list[dict], schema: dict) -> list[dict]:
    messages = conversation.for_model() if isinstance(conversation, Conversation) else copy.deepcopy(list(conversation))
    instruction = INSTRUCTION.format(schema=json.dumps(schema, ensure_ascii=False))
    if messages and messages[0]["role"] == "system":
        messages[0] = {**messages[0], "content": messages[0]["content"] + "\n\n" + instruction}
    else:
        messages.insert(0, {"role": "system", "content": instruction})
    return messages


def check(text: str, schema: dict) -> tuple[Any, str | None]:
    """(value, None) when the answer is JSON that fits, else (None, what is wrong)."""
    try:
        value = extract_json(text)
    except ValueError as err:
        return None, str(err)
    problem = validate(value, schema)
    return (None, problem) if problem else (value, None)


async def ask_json(engine, conversation: Conversation | list[dict], schema: dict,
                   settings: GenerationSettings | None = None, *, retries: int = 1) -> Any:
    messages = _request(conversation, schema)
    options = {}
    if hasattr(engine, "provider"):  # a remote engine: the server may enforce the schema itself
        options["response_format"] = {"type": "json_schema",
                                      "json_schema": {"name": "answer", "schema": schema}}
    problem = None
    for attempt in range(retries + 1):
        text = await _answer(engine, messages, settings, options)
        value, problem = check(text, schema)
        if problem is None:
            return value
        messages += [{"role": "assistant", "content": text},
                     {"role": "user", "content": f"That answer is not valid: {problem}. Answer again with the "
                                                 "JSON only."}]
    raise SchemaError(f"The model's answer is not JSON of the schema asked for: {problem}.",
                      hint="Try a larger model, a simpler schema, or a remote endpoint that supports response_format.")


def _conversation(messages: list[dict]) -> Conversation:
    """OpenAI-form messages as a Conversation (what the local engine reads)."""
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    conversation = Conversation(system_prompt=system)
    for message in messages[1 if system else 0:]:
        (conversation.add_user if message["role"] == "user" else conversation.add_assistant)(message["content"])
    return conversation


async def _answer(engine, messages: list[dict], settings, options: dict) -> str:
    conversation = messages if options else _conversation(messages)
    parts = []
    async for event in engine.stream(conversation, settings, **options):
        if isinstance(event, Delta) and event.kind == "content":
            parts.append(event.text)
    return "".join(parts)
