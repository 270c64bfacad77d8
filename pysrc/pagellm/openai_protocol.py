"""The OpenAI chat-completions wire format: request bodies, streamed chunks, model lists.

Build a request body from a conversation and settings, mapped for the provider::

    >>> from pagellm.settings import GenerationSettings
    >>> body = chat_request([{"role": "user", "content": "Hi"}], "llama3.2",
    ...                     GenerationSettings(temperature=0, max_new_tokens=8), "ollama")
    >>> body["stream"], body["stream_options"], body["max_tokens"], "top_k" in body
    (True, {'include_usage': True}, 8, False)

Turn the server-sent events of a streamed reply into ``Delta`` records::

    >>> from pagellm.sse import ServerSentEvent as E
    >>> reply = ChatStream()
    >>> reply.feed(E('{"choices": [{"delta": {"role": "assistant", "content": "Hel"}}]}'))
    [Delta(text='Hel', kind='content')]
    >>> reply.feed(E('{"choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}]}'))
    [Delta(text='lo', kind='content')]
    >>> reply.feed(E("[DONE]")), reply.end()
    ([], 'stop')

Errors that arrive inside the stream (an ``{"error": ...}`` object or an ``error`` event) raise
``ServerError``; a chunk that is not JSON raises ``ProtocolError``; a stream that ends without a
``finish_reason`` raises ``StreamCutError`` at ``end()`` (with or without ``[DONE]``); one that has a
``finish_reason`` but no ``[DONE]`` is complete.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from . import providers
from .engine import Delta
from .errors import InputError, ProtocolError, ServerError, SettingsError, StreamCutError
from .keys import redact
from .settings import GenerationSettings
from .sse import ServerSentEvent
from .tools import ToolCalls

__all__ = ["chat_request", "encode_json", "ChatStream", "completion_deltas", "parse_models", "shorten"]

DONE = "[DONE]"
MAX_SHOWN = 300  # characters of server text quoted in an error message


def shorten(text: str, limit: int = MAX_SHOWN) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def chat_request(
    messages: list[dict],
    model: str,
    settings: GenerationSettings | None = None,
    provider: "str | providers.Provider" = "custom",
    *,
    stream: bool = True,
    tools: list | None = None,
    response_format: dict | None = None,
) -> dict:
    """The JSON body of ``POST /chat/completions``.

    ``tools`` (``pagellm.tools.Tool`` objects) are offered as OpenAI function tools; ``response_format``
    (e.g. ``{"type": "json_schema", "json_schema": {"name": ..., "schema": ...}}``) is passed through.

    Only the settings the provider accepts are sent, under the provider's field names; ``seed`` and
    ``stop`` are left out when unset.
    """
    preset = providers.get(provider)
    settings = settings or GenerationSettings()
    if not messages:
        raise InputError("There is nothing to send: the conversation is empty.")
    model = (model or "").strip()
    body: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    if not model:
        if not preset.model_optional:
            example = f" (for example {preset.example_model})" if preset.example_model else ""
            raise InputError(f"Choose a model id for {preset.name}{example}, or pick one from the list.")
        del body["model"]
    if stream and preset.stream_usage:
        body["stream_options"] = {"include_usage": True}
    for setting, wire in preset.params.items():
        value = getattr(settings, setting)
        if value is None or value == ():
            continue
        if setting == "stop":
            if preset.max_stop is not None and len(value) > preset.max_stop:
                raise SettingsError("stop", f"has {len(value)} strings but {preset.name} accepts at most {preset.max_stop}")
            value = list(value)
        body[wire] = value
    if tools:
        body["tools"] = [t.to_openai() for t in tools]
    if response_format:
        body["response_format"] = response_format
    return body


def encode_json(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _parts_text(content: Any) -> tuple[str, str]:
    """(answer, reasoning) from a content that may be a string or a list of typed parts."""
    if isinstance(content, str):
        return content, ""
    answer, reasoning = [], []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                answer.append(part)
            elif isinstance(part, dict):
                kind = part.get("type")
                if kind in ("thinking", "reasoning"):
                    value = part.get("thinking", part.get("text", ""))
                    if isinstance(value, list):  # Mistral: [{"type": "text", "text": ...}]
                        value = "".join(p.get("text", "") for p in value if isinstance(p, dict))
                    if isinstance(value, str):
                        reasoning.append(value)
                elif isinstance(part.get("text"), str):
                    answer.append(part["text"])
    return "".join(answer), "".join(reasoning)


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        message = error.get("message") or error.get("msg") or error.get("detail")
        if isinstance(message, str) and message:
            return message
        return json.dumps(error, ensure_ascii=False)
    return str(error)


class ChatStream:
    """The state of one streamed reply: feed it events, read deltas, then call ``end()``.

    After ``end()``: ``finish_reason`` ("stop", "length", "content_filter", ... as the server said
    it), and ``prompt_tokens`` / ``completion_tokens`` when the server sent usage. A stream that
    ends without a finish_reason is cut, whether or not ``[DONE]`` came (llama.cpp's server ends
    an interrupted reply with a bare ``[DONE]``).
    """

    def __init__(self, *, secrets: Iterable[str | None] = ()) -> None:
        self.finish_reason: str | None = None
        self.done = False
        self.events = 0
        self.deltas = 0
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.tool_calls = ToolCalls()
        self._secrets = tuple(s for s in secrets if s)

    def feed(self, event: ServerSentEvent) -> list[Delta]:
        if self.done:
            return []
        self.events += 1
        data = event.data
        if event.event == "error":
            try:
                payload = json.loads(data)
            except ValueError:
                raise self._server_error(data) from None
            raise self._server_error(_error_text(payload.get("error", payload) if isinstance(payload, dict) else payload))
        if data == DONE or data.strip() == DONE:
            self.done = True
            return []
        if not data.strip():
            return []  # an empty data event: nothing to do
        try:
            payload = json.loads(data)
        except ValueError:
            raise ProtocolError(
                f"The server sent a stream chunk that is not JSON: {redact(shorten(data, 120), *self._secrets)!r}",
                hint="The endpoint is not OpenAI-compatible, or a proxy altered the stream.",
            ) from None
        return self.feed_payload(payload)

    def feed_payload(self, payload: Any) -> list[Delta]:
        if not isinstance(payload, dict):
            raise ProtocolError(f"The server sent a stream chunk that is not a JSON object: {shorten(json.dumps(payload), 120)}")
        if payload.get("error"):
            raise self._server_error(_error_text(payload["error"]))
        usage = payload.get("usage") or (payload.get("x_groq") or {}).get("usage")
        if isinstance(usage, dict):
            self._usage(usage)
        choices = payload.get("choices")
        if not choices or not isinstance(choices, list):
            return []
        out: list[Delta] = []
        for choice in choices:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if delta is None:
                delta = choice.get("message")  # a whole message (non-streamed form)
            if isinstance(delta, dict):
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                answer, more_reasoning = _parts_text(delta.get("content"))
                if isinstance(reasoning, str) and reasoning:
                    out.append(Delta(reasoning, "reasoning"))
                if more_reasoning:
                    out.append(Delta(more_reasoning, "reasoning"))
                if answer:
                    out.append(Delta(answer))
                if delta.get("tool_calls"):
                    self.tool_calls.feed(delta["tool_calls"])
            elif isinstance(choice.get("text"), str) and choice["text"]:
                out.append(Delta(choice["text"]))  # completions-style chunk
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        self.deltas += len(out)
        return out

    def _usage(self, usage: dict) -> None:
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(prompt, int) and not isinstance(prompt, bool):
            self.prompt_tokens = prompt
        if isinstance(completion, int) and not isinstance(completion, bool):
            self.completion_tokens = completion

    def _server_error(self, text: str) -> ServerError:
        return ServerError(
            f"The server reported an error in the middle of the reply: {redact(shorten(text), *self._secrets)}",
            hint="The text so far is kept; try again, or check the server's log.",
        )

    def end(self) -> str:
        """Call when the body ended: the finish reason, or StreamCutError for a cut stream."""
        if self.finish_reason:
            return self.finish_reason
        if self.done:
            raise StreamCutError(
                "The server ended the stream without finishing the reply ([DONE] came without a finish_reason).",
                hint="Another request may have interrupted it (llama.cpp's server stops a reply when a new request "
                     "arrives); the text so far is kept. Try again.",
            )
        if not self.events:
            raise StreamCutError(
                "The server closed the stream before sending any part of the reply.",
                hint="It may have crashed or restarted, or the conversation may be too long for the model "
                     "(llama.cpp's server answers that with an empty stream): try again, or start a new chat.",
            )
        raise StreamCutError(
            "The stream ended before the reply was finished (no finish_reason and no [DONE]).",
            hint="The server may have stopped or lost the connection; the text so far is kept. Try again.",
        )


def completion_deltas(payload: Any, stream: ChatStream | None = None) -> list[Delta]:
    """Deltas from a whole (non-streamed) chat completion, for servers that ignore ``stream``."""
    stream = stream or ChatStream()
    out = stream.feed_payload(payload)
    stream.done = True
    return out


def parse_models(payload: Any) -> list[str]:
    """Model ids from a ``GET /models`` answer (``{"data": [{"id": ...}]}`` and close variants)."""
    items = payload
    if isinstance(payload, dict):
        items = payload.get("data", payload.get("models"))
    if not isinstance(items, list):
        raise ProtocolError("The model list is not in the OpenAI format ({\"data\": [{\"id\": ...}]}).")
    ids = []
    for item in items:
        if isinstance(item, str):
            ids.append(item)
        elif isinstance(item, dict):
            ident = item.get("id") or item.get("name") or item.get("model")
            if isinstance(ident, str) and ident:
                ids.append(ident)
    return ids
