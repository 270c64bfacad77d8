"""The browser transport (Pyodide): ``fetch`` with a streamed body and an AbortController.

    transport = BrowserTransport()
    response = await transport.open(Request("POST", url, headers, body))
    async for chunk in response.chunks():   # reads response.body.getReader() chunk by chunk
        ...
    response.abort()                        # stop button: the pending read fails at once

Before sending, an https page calling a plain-http host that is not loopback fails with
``MixedContentError`` (the browser would block it anyway, with no usable message). A bare
"Failed to fetch" is told apart with a ``no-cors`` probe of the same URL: if that gets through the
server is up and refused this page (``CORSError`` with the server's fix), otherwise ``NetworkError``
(in a cross-origin isolated page the probe cannot tell, and the ``CORSError`` names both causes).
Timeouts abort the request (no byte for ``timeout`` seconds) and raise ``RequestTimeoutError``.

Only this module imports ``js`` and ``pyodide``.
"""

from __future__ import annotations

from typing import AsyncIterator

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, create_proxy, to_js  # type: ignore[import-not-found]

from ..errors import Cancelled, NetworkError, RequestTimeoutError, StreamCutError
from ..urls import host_of
from . import Request, fetch_failed_error, mixed_content_error, read_body

__all__ = ["BrowserTransport"]


def _page_origin() -> str | None:
    # globalThis.origin exists in pages and workers; a worker made from a blob: URL (PyScript) has
    # its page's origin, which is what mixed-content and CORS rules look at.
    try:
        origin = str(js.origin)
    except Exception:
        return None
    return None if origin in ("", "null") else origin


def _js_error_name(exc: BaseException) -> str:
    name = getattr(exc, "name", None)
    if isinstance(name, str):
        return name
    js_error = getattr(exc, "js_error", None)
    return str(getattr(js_error, "name", "")) if js_error is not None else ""


class _Abort:
    """One AbortController plus an idle timer that aborts after ``seconds`` without progress."""

    def __init__(self, seconds: float):
        self.controller = js.AbortController.new()
        self.signal = self.controller.signal
        self.reason: str | None = None  # "timeout" | "cancel"
        self._ms = int(seconds * 1000)
        self._timer = None
        self._proxy = create_proxy(self._fire)
        self.arm()

    def _fire(self, *_):
        self.abort("timeout")

    def arm(self, seconds: float | None = None) -> None:
        """(Re)start the timer; ``seconds`` changes the limit from now on."""
        self.disarm()
        if seconds is not None:
            self._ms = int(seconds * 1000)
        if self.reason is None:
            self._timer = js.setTimeout(self._proxy, self._ms)

    def disarm(self) -> None:
        if self._timer is not None:
            js.clearTimeout(self._timer)
            self._timer = None

    def abort(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self.disarm()
            self.controller.abort()

    def destroy(self) -> None:
        self.disarm()
        try:
            self._proxy.destroy()
        except Exception:
            pass


class BrowserResponse:
    interruptible = True  # abort() makes a pending read fail at once

    def __init__(self, response, request: Request, abort: _Abort):
        self._response = response
        self._request = request
        self._abort = abort
        self._reader = None
        self._closed = False
        self.status = int(response.status)
        self.headers = {str(k).lower(): str(v) for k, v in response.headers.entries()}

    def _failure(self, exc: BaseException):
        host = host_of(self._request.url)
        if self._abort.reason == "cancel":
            return Cancelled("The request was cancelled.")
        if self._abort.reason == "timeout":
            return RequestTimeoutError(
                f"{host} sent nothing for {self._request.timeout:g} s in the middle of the reply.",
                hint="The server may be stuck or overloaded; the text so far is kept. Try again.",
            )
        return StreamCutError(
            f"The connection to {host} broke off in the middle of the reply ({exc}).",
            hint="The server may have stopped or crashed; the text so far is kept. Try again.",
        )

    async def chunks(self) -> AsyncIterator[bytes]:
        body = self._response.body
        if body is None:
            return
        self._reader = body.getReader()
        while True:
            self._abort.arm(self._request.timeout)  # opening allowed max(connect, read); each read gets `timeout`
            try:
                result = await self._reader.read()
            except JsException as exc:
                raise self._failure(exc) from None
            self._abort.disarm()  # the consumer's own time does not count against the server
            if result.done:
                return
            yield result.value.to_bytes()

    async def read(self, limit: int = 1 << 20) -> bytes:
        return await read_body(self.chunks(), limit)

    def abort(self) -> None:
        self._abort.abort("cancel")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._reader is not None:
                await self._reader.cancel()
            elif self._response.body is not None and not self._response.bodyUsed:
                await self._response.body.cancel()
        except Exception:
            pass
        finally:
            self._abort.destroy()


class BrowserTransport:
    """``fetch`` from the page or its worker. ``origin`` defaults to the page's origin."""

    interruptible = True  # abort() stops a request still waiting for its headers

    def __init__(self, origin: str | None = None, provider=None):
        self.origin = origin
        self.provider = provider  # a preset id or Provider, for its CORS advice
        self._current: _Abort | None = None

    async def _reachable(self, url: str) -> bool | None:
        """A no-cors GET: it resolves (opaque) when something answers, rejects when nothing does.

        Under cross-origin isolation (COEP require-corp) a no-cors answer without a
        Cross-Origin-Resource-Policy header is blocked too, so the probe cannot tell: None.
        """
        try:
            if bool(js.crossOriginIsolated):
                return None
        except AttributeError:
            pass
        abort = _Abort(5.0)
        try:
            init = to_js({"mode": "no-cors", "cache": "no-store", "credentials": "omit", "signal": abort.signal},
                         dict_converter=js.Object.fromEntries)
            await js.fetch(url, init)
            return True
        except JsException:
            return None if abort.reason == "timeout" else False
        finally:
            abort.destroy()

    async def open(self, request: Request) -> BrowserResponse:
        origin = self.origin or _page_origin()
        page_url = f"{origin}/" if origin else None
        mixed = mixed_content_error(page_url, request.url)
        if mixed is not None:
            raise mixed
        abort = _Abort(max(request.connect_timeout, request.timeout))
        self._current = abort
        init = {
            "method": request.method,
            "headers": to_js(request.headers, dict_converter=js.Object.fromEntries),
            "signal": abort.signal,
            "cache": "no-store",
            "credentials": "omit",
            "mode": "cors",
            "referrerPolicy": "no-referrer",
        }
        if request.body is not None:
            init["body"] = request.body.decode("utf-8")
        try:
            response = await js.fetch(request.url, to_js(init, dict_converter=js.Object.fromEntries))
        except BaseException as exc:
            if not isinstance(exc, JsException):  # the awaiting task was cancelled, or worse
                abort.abort("cancel")
                abort.destroy()
                raise
            reason = abort.reason
            abort.destroy()
            host = host_of(request.url)
            if reason == "cancel":
                raise Cancelled("The request was cancelled.") from None
            if reason == "timeout":
                raise RequestTimeoutError(
                    f"No answer from {host} within {max(request.connect_timeout, request.timeout):g} s.",
                    hint="Check the host and port in the base URL; the server may also be busy.",
                ) from None
            if _js_error_name(exc) == "TypeError":  # "Failed to fetch": CORS, or no server at all
                raise fetch_failed_error(
                    request.url, origin=origin, page_url=page_url, provider=self.provider,
                    reachable=await self._reachable(request.url),
                ) from None
            raise NetworkError(f"The browser could not call {host}: {exc}.") from None
        return BrowserResponse(response, request, abort)

    def abort(self) -> None:
        """Abort the latest request, also while it is still waiting for the headers."""
        if self._current is not None:
            self._current.abort("cancel")

    async def aclose(self) -> None:
        self._current = None
