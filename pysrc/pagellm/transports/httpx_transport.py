"""The CPython transport: httpx.AsyncClient with a streamed body.

    transport = HttpxTransport()
    response = await transport.open(Request("POST", url, headers, body))
    async for chunk in response.chunks():
        ...
    await response.aclose(); await transport.aclose()

Failures become typed errors that name ``host:port``: DNS -> NetworkError ("could not resolve"),
refused -> NetworkError ("nothing is listening"), TLS -> NetworkError, connect/read timeouts ->
RequestTimeoutError, a body that breaks off -> StreamCutError.
"""

from __future__ import annotations

import errno
import socket
from typing import AsyncIterator

import httpx

from ..errors import BadURLError, Cancelled, NetworkError, RequestTimeoutError, StreamCutError
from ..urls import host_of, hostname, is_loopback
from . import Request, read_body

__all__ = ["HttpxTransport", "HttpxResponse"]

_USER_AGENT = "pagellm/0.1"


def _connect_error(request: Request, exc: Exception) -> NetworkError:
    host = host_of(request.url)
    text = str(exc)
    cause = exc.__cause__ or exc.__context__
    chain = []
    while cause is not None and len(chain) < 6:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(isinstance(c, socket.gaierror) for c in chain) or "Name or service not known" in text \
            or "nodename nor servname" in text or "getaddrinfo" in text or "Temporary failure in name resolution" in text:
        name = hostname(request.url) or host
        return NetworkError(
            f"Could not find the host {name!r} (DNS lookup failed: {text or 'no address'}).",
            hint="Check the spelling of the host in the base URL and your network connection.",
        )
    if any(isinstance(c, ConnectionRefusedError) for c in chain) or "Connection refused" in text \
            or any(getattr(c, "errno", None) == errno.ECONNREFUSED for c in chain):
        return NetworkError(
            f"Nothing is listening on {host} (connection refused).",
            hint="Is the server running? Check the port in the base URL.",
        )
    if "SSL" in text or "TLS" in text or "certificate" in text.lower():
        return NetworkError(
            f"The secure (TLS) connection to {host} failed: {text}.",
            hint="If the server speaks plain HTTP, use http:// in the base URL; otherwise check its certificate.",
        )
    return NetworkError(
        f"Could not connect to {host}: {text or type(exc).__name__}.",
        hint="Check that the server is running and reachable from this machine.",
    )


class HttpxResponse:
    def __init__(self, response: httpx.Response, request: Request):
        self._response = response
        self._request = request
        self.status = response.status_code
        self.headers = {k.lower(): v for k, v in response.headers.items()}
        self._aborted = False
        self._closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        host = host_of(self._request.url)
        try:
            async for chunk in self._response.aiter_bytes():
                if self._aborted:
                    raise Cancelled("The request was cancelled.")
                if chunk:
                    yield chunk
        except httpx.ReadTimeout:
            raise RequestTimeoutError(
                f"{host} sent nothing for {self._request.timeout:g} s in the middle of the reply.",
                hint="The server may be stuck or overloaded; the text so far is kept. Try again.",
            ) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.NetworkError) as exc:
            if self._aborted:
                raise Cancelled("The request was cancelled.") from None
            raise StreamCutError(
                f"The connection to {host} broke off in the middle of the reply ({exc or type(exc).__name__}).",
                hint="The server may have stopped or crashed; the text so far is kept. Try again.",
            ) from None
        except httpx.StreamClosed:
            raise Cancelled("The request was cancelled.") from None

    async def read(self, limit: int = 1 << 20) -> bytes:
        return await read_body(self.chunks(), limit)

    def abort(self) -> None:
        # httpx cannot interrupt a pending read from outside; the engine cancels the reading task.
        self._aborted = True

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._response.aclose()


class HttpxTransport:
    """One pooled ``httpx.AsyncClient`` (made on first use, or the one you pass)."""

    def __init__(self, client: httpx.AsyncClient | None = None):
        self._client = client
        self._own = client is None
        self._direct: httpx.AsyncClient | None = None  # loopback traffic never goes through a proxy

    def _client_for(self, url: str) -> httpx.AsyncClient:
        if not self._own:
            return self._client
        if is_loopback(url):
            if self._direct is None:
                self._direct = httpx.AsyncClient(trust_env=False, headers={"user-agent": _USER_AGENT})
            return self._direct
        if self._client is None:
            self._client = httpx.AsyncClient(headers={"user-agent": _USER_AGENT})
        return self._client

    async def open(self, request: Request) -> HttpxResponse:
        host = host_of(request.url)
        client = self._client_for(request.url)
        timeout = httpx.Timeout(request.timeout, connect=request.connect_timeout)
        try:
            built = client.build_request(
                request.method, request.url, headers=request.headers, content=request.body, timeout=timeout
            )
            response = await client.send(built, stream=True)
        except httpx.ConnectTimeout:
            raise RequestTimeoutError(
                f"No answer from {host} within {request.connect_timeout:g} s while connecting.",
                hint="Check the host and port in the base URL, and that a firewall does not drop the traffic.",
            ) from None
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout):
            raise RequestTimeoutError(
                f"{host} accepted the connection but did not answer within {request.timeout:g} s.",
                hint="The server may be busy (loading a model, or working on another request): try again.",
            ) from None
        except httpx.ConnectError as exc:
            raise _connect_error(request, exc) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise BadURLError(f"Cannot call {request.url!r}: {exc}.") from None
        except httpx.RemoteProtocolError as exc:
            raise NetworkError(
                f"{host} closed the connection without answering ({exc}).",
                hint="The server may have stopped, or it does not speak HTTP on this port (https vs http?).",
            ) from None
        except (httpx.TransportError, OSError) as exc:
            raise NetworkError(f"Could not talk to {host}: {exc or type(exc).__name__}.") from None
        return HttpxResponse(response, request)

    async def aclose(self) -> None:
        for client in (self._direct, self._client if self._own else None):
            if client is not None:
                await client.aclose()
        self._direct = None
        if self._own:
            self._client = None
