"""The remote engine: any OpenAI-compatible endpoint, streamed, in the browser or on CPython.

    engine = RemoteEngine("http://localhost:11434/v1", "llama3.2", provider="ollama")
    await engine.load()                                  # checks the URL (and the key, if one is needed)
    print(await engine.list_models())                    # GET /models
    async for event in engine.stream(conversation, GenerationSettings(max_new_tokens=64)):
        print(event.text if isinstance(event, Delta) else event, end="")

With a scripted transport (``transports.mock``), the same calls run without a server:

    >>> import asyncio
    >>> from pagellm.transports.mock import MockResponse, MockTransport
    >>> replies = MockTransport([MockResponse.json({"object": "list", "data": [{"id": "llama3.2"}]})])
    >>> asyncio.run(RemoteEngine("http://localhost:11434/v1/", "llama3.2", transport=replies).list_models())
    ['llama3.2']
    >>> RemoteEngine("localhost:11434/v1").base_url is None       # a bad URL is reported by load() and stream()
    True

It implements the same interface as the local engine (``load``, ``stream``, ``cancel``). A failure
raises one typed error (see ``errors.py``) after the deltas already received; the error carries that
text as ``partial_text``. ``cancel()`` ends the stream with ``Final(finish_reason="cancelled")``.
The API key is sent only to ``base_url`` and never appears in a message or a ``repr``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import AsyncIterator, Iterable

from . import providers
from .engine import Citations, Delta, Final, Progress, ProgressCallback, ReplyClock
from .errors import AuthError, BadURLError, Cancelled, ProtocolError, RemoteError, ToolLoopError
from .keys import mask
from .grounding import DEFAULT_TOKENS, Budget
from .messages import Conversation
from .openai_errors import ErrorContext, error_from_response
from .openai_protocol import ChatStream, chat_request, completion_deltas, encode_json, parse_models, shorten
from .settings import GenerationSettings
from .sse import SSEDecoder
from .tools import Tool, ToolResultEvent, run_calls
from .transports import Request, Transport, default_transport
from .urls import host_of, validate_base_url

__all__ = ["RemoteEngine"]


class _Stop(Exception):
    """Internal: the user cancelled."""


class RemoteEngine:
    def __init__(
        self,
        base_url: str,
        model: str = "",
        api_key: str | None = None,
        provider: "str | providers.Provider" = "custom",
        transport: Transport | None = None,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        key_source: str = "the API key field",
        headers: dict[str, str] | None = None,
        context_tokens: int | None = None,
        accepts_images: bool = True,
    ):
        self.provider = providers.get(provider)
        self.raw_base_url = base_url
        try:
            self.base_url: str | None = validate_base_url(base_url)
            self._url_error: BadURLError | None = None
        except BadURLError as err:
            self.base_url, self._url_error = None, err
        self.model = (model or "").strip()
        self._api_key = (api_key or "").strip() or None
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.key_source = key_source
        # The model's context, when known: attached files go in whole only if they fit it (with the
        # reply's room); unknown, the prompt may use grounding.DEFAULT_TOKENS.
        self.context_tokens = context_tokens
        # False for a model that reads text only: an image attachment is refused before anything is sent.
        self.accepts_images = accepts_images
        self._extra_headers = dict(headers or {})
        self._transport = transport
        self._active = False
        self._cancelled = False
        self._task: asyncio.Task | None = None
        self._waiting = False
        self._response = None
        self.loaded = False

    # -- small helpers ---------------------------------------------------------------------

    def __repr__(self) -> str:
        return (f"RemoteEngine({self.base_url or self.raw_base_url!r}, {self.model!r}, provider={self.provider.id!r}, "
                f"api_key={mask(self._api_key) if self._api_key else None!r})")

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = default_transport()
            if hasattr(self._transport, "provider"):
                self._transport.provider = self.provider
        return self._transport

    def _checked_url(self) -> str:
        if self._url_error is not None:
            raise self._url_error
        return self.base_url

    def _check_key(self) -> None:
        if self.provider.needs_key and not self._api_key:
            where = f" Get one at {self.provider.key_url}." if self.provider.key_url else ""
            raise AuthError(f"{self.provider.name} needs an API key.", hint=f"Set it in {self.key_source}.{where}")

    def _headers(self, accept: str) -> dict[str, str]:
        headers = {"accept": accept}
        if sys.platform == "emscripten":
            headers.update(self.provider.browser_headers)
        headers.update(self._extra_headers)
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        return headers

    def _context(self, url: str) -> ErrorContext:
        return ErrorContext(
            url=url, base_url=self.base_url or "", model=self.model, provider=self.provider,
            key_sent=self._api_key is not None, key_source=self.key_source,
            secrets=(self._api_key,) if self._api_key else (),
        )

    async def _guard(self, awaitable):
        """Await a transport step so that ``cancel()`` can interrupt it (raises _Stop then)."""
        if self._cancelled:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise _Stop
        self._waiting = True
        try:
            return await awaitable
        except asyncio.CancelledError:
            task = self._task
            if self._cancelled and task is not None and task.uncancel() == 0:
                raise _Stop from None
            raise
        except Cancelled:
            raise _Stop from None
        finally:
            self._waiting = False

    async def _open(self, method: str, path: str, body: dict | None, accept: str, *,
                    timeout: float | None = None, cancellable: bool = True):
        """Send a request; return (response, url) for a 2xx answer, else raise the mapped error.

        ``cancellable`` requests (the reply stream) can be stopped by ``cancel()``; others
        (listing models) run to their end or timeout and leave a running stream alone.
        """
        url = self._checked_url() + path
        headers = self._headers(accept)
        if body is not None:
            headers["content-type"] = "application/json"
        request = Request(method, url, headers, encode_json(body) if body is not None else None,
                          timeout=timeout or self.timeout, connect_timeout=self.connect_timeout)
        guard = self._guard if cancellable else _plain
        response = await guard(self.transport.open(request))
        if cancellable:
            self._response = response
        if response.status >= 300:
            try:
                text = await guard(response.read(64 * 1024))
            except RemoteError:
                text = b""
            finally:
                await response.aclose()
            raise error_from_response(response.status, text, response.headers, self._context(url))
        return response, url

    # -- the Engine interface -----------------------------------------------------------------

    async def load(self, progress: ProgressCallback | None = None) -> None:
        """Check the base URL and the key (sends nothing: the first request shows whether the server answers)."""
        if progress:
            progress(Progress("checking"))
        self._checked_url()
        self._check_key()
        self.loaded = True
        if progress:
            progress(Progress("ready", 1, 1))

    def stream(self, conversation: "Conversation | Iterable[dict]", settings: GenerationSettings | None = None,
               *, tools: "list[Tool] | None" = None, response_format: dict | None = None, max_steps: int = 8,
               ) -> AsyncIterator[Delta | Final]:
        """Stream the reply: ``Delta`` records, then one ``Final``.

        With ``tools``, a reply that asks for tools gets them run (``ToolCallEvent`` before each call,
        ``ToolResultEvent`` after) and the model is asked again with the results, up to ``max_steps``
        rounds (then ``ToolLoopError``). A call of a tool not offered (``UnknownToolError``) or with
        arguments that do not fit its schema (``ToolArgumentsError``) ends the reply with that error; a
        tool that raises is reported to the model, which may answer or try again. ``response_format``
        is passed to the server as it is."""
        self._active, self._cancelled = True, False
        return self._stream(conversation, settings or GenerationSettings(), list(tools or ()), response_format,
                            max_steps)

    def _budget(self, settings: GenerationSettings) -> Budget:
        limit = self.context_tokens - settings.max_new_tokens if self.context_tokens else DEFAULT_TOKENS
        return Budget(limit=max(limit, 256), images=self.accepts_images,
                      engine=f"{self.model or 'the model'} at {self.provider.name}")

    def cancel(self) -> None:
        """Stop the reply being streamed (from any task); it ends with Final(finish_reason="cancelled")."""
        if not self._active:
            return
        self._cancelled = True
        response = self._response
        if response is not None:
            response.abort()
        elif hasattr(self._transport, "abort"):
            self._transport.abort()  # still waiting for the headers
        # The browser's fetch can be aborted at any point; httpx's pending reads cannot, so the task is cancelled.
        interruptible = getattr(response if response is not None else self._transport, "interruptible", False)
        if self._waiting and self._task is not None and not interruptible and self._task is not _current_task():
            self._task.cancel()

    async def _stream(self, conversation, settings: GenerationSettings, tools: list, response_format: dict | None,
                      max_steps: int) -> AsyncIterator[Delta | Final]:
        self._task = _current_task()
        clock = ReplyClock()
        parts: list[str] = []
        prompt_tokens = completion_tokens = None
        try:
            self._checked_url()
            self._check_key()
            if isinstance(conversation, Conversation):
                given = conversation.model_input(self._budget(settings))
                messages = given.messages
                if given.citations:
                    yield Citations(given.citations)
            else:
                messages = list(conversation)
            for step in range(max_steps + 1):
                reply = ChatStream(secrets=(self._api_key,))
                said: list[str] = []
                body = chat_request(messages, self.model, settings, self.provider, tools=tools,
                                    response_format=response_format)
                try:
                    async for delta in self._request(body, reply):
                        clock.token()
                        if delta.kind == "content":
                            if parts and not said:  # a new round after tool results: its own paragraph
                                parts.append("\n\n")
                                yield Delta("\n\n")
                            parts.append(delta.text)
                            said.append(delta.text)
                        yield delta
                        if self._cancelled:
                            raise _Stop
                    finish = reply.end()
                except RemoteError as err:
                    err.partial_text = "".join(parts)
                    raise
                prompt_tokens = reply.prompt_tokens if prompt_tokens is None else prompt_tokens
                if reply.completion_tokens is not None:
                    completion_tokens = (completion_tokens or 0) + reply.completion_tokens
                calls = reply.tool_calls.calls() if tools else []
                if not calls:
                    break
                if step == max_steps:
                    raise ToolLoopError(f"The model was still calling tools after {max_steps} rounds: stopped.",
                                        hint="Ask for the answer directly, or raise max_steps.")
                messages.append({"role": "assistant", "content": "".join(said) or None,
                                  "tool_calls": [call.to_openai() for call in calls]})
                async for event in run_calls(tools, calls):
                    yield event
                    if isinstance(event, ToolResultEvent):
                        messages.append({"role": "tool", "tool_call_id": event.call.id, "content": event.output})
                        if self._cancelled:
                            raise _Stop
        except _Stop:
            yield clock.final("cancelled", prompt_tokens)
            return
        finally:
            self._active = self._cancelled = False
        yield clock.final(finish, prompt_tokens, completion_tokens)

    async def _request(self, body: dict, reply: ChatStream) -> AsyncIterator[Delta]:
        """One POST /chat/completions: the reply's deltas as they arrive (``reply`` keeps its state)."""
        response = chunks = None
        try:
            response, url = await self._open("POST", "/chat/completions", body, "text/event-stream")
            content_type = response.headers.get("content-type", "")
            if "text/html" in content_type:
                raise ProtocolError(
                    f"{host_of(url)} answered with a web page instead of a reply stream.",
                    hint="The base URL points to a website or web UI, not to its API: it usually ends with /v1.",
                )
            if "json" in content_type and "event-stream" not in content_type:
                # The server ignored stream=true and sent the whole completion at once.
                raw = await self._guard(response.read(16 << 20))
                try:
                    payload = json.loads(raw)
                except ValueError:
                    text = shorten(raw.decode("utf-8", "replace"), 120)
                    raise ProtocolError(f"{host_of(url)} sent a reply that is not JSON: {text!r}") from None
                for delta in completion_deltas(payload, reply):
                    yield delta
                return
            decoder = SSEDecoder()
            chunks = response.chunks().__aiter__()
            while not reply.done:
                try:
                    chunk = await self._guard(chunks.__anext__())
                except StopAsyncIteration:
                    break
                for event in decoder.feed(chunk):
                    for delta in reply.feed(event):
                        yield delta
            decoder.close()
        finally:
            self._response = None
            if chunks is not None:
                await chunks.aclose()
            if response is not None:
                await response.aclose()

    # -- beyond the interface --------------------------------------------------------------------

    async def list_models(self) -> list[str]:
        """The model ids the server offers (``GET /models``)."""
        self._checked_url()
        response, url = await self._open("GET", "/models", None, "application/json",
                                         timeout=min(self.timeout, 30.0), cancellable=False)
        try:
            raw = await response.read(8 << 20)
        finally:
            await response.aclose()
        try:
            payload = json.loads(raw)
            return parse_models(payload)
        except (ValueError, ProtocolError):
            what = "a web page" if raw.lstrip()[:1] == b"<" else "something that is not a model list"
            raise ProtocolError(
                f"{host_of(url)} answered GET /models with {what}.",
                hint="Check that the base URL points to the API (it usually ends with /v1); you can still type a model id.",
            ) from None

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()


async def _plain(awaitable):
    return await awaitable


def _current_task():
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None
