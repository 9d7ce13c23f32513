"""HTTP transports that keep what a client library sent and received: the openai SDK's own requests, recorded
byte for byte as exchanges the checks can judge."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from .client import TRANSPORT_BROKEN, Exchange, TransportError, parse_response

IDENTITY = {"Accept-Encoding": "identity"}  # the recorded bytes are what the checks parse: no gzip


def _exchange_of(request: httpx.Request) -> Exchange | None:
    if not request.url.path.endswith("/chat/completions"):
        return None
    try:
        body: dict[str, Any] = json.loads(request.content)
    except ValueError:
        body = {}
    return Exchange(url=str(request.url.copy_with(query=None)), request=body, stream=bool(body.get("stream")))


def _begin(exchange: Exchange, response: httpx.Response) -> None:
    exchange.status = response.status_code
    exchange.headers = {key.lower(): value for key, value in response.headers.items()}


def _end(exchange: Exchange, received: bytearray, started: float, error: BaseException | None = None) -> None:
    exchange.raw = bytes(received)
    exchange.elapsed = time.monotonic() - started
    if error is not None:
        exchange.transport_error = TransportError(TRANSPORT_BROKEN, f"{type(error).__name__}: {error}")
    parse_response(exchange)


class _Tee(httpx.SyncByteStream):
    """The response's bytes, passed on to the client and kept; on close the rest is read, so nothing is lost
    when the client stops reading early (the SDK stops at data: [DONE])."""

    def __init__(self, inner: httpx.SyncByteStream, exchange: Exchange, started: float) -> None:
        self.inner, self.exchange, self.started = inner, exchange, started
        self.received = bytearray()
        self.iterator = iter(inner)
        self.done = False

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.iterator:
            self.received.extend(piece)
            yield piece

    def close(self) -> None:
        if self.done:
            return
        self.done = True
        error = None
        try:
            for piece in self.iterator:
                self.received.extend(piece)
        except httpx.HTTPError as exc:
            error = exc
        finally:
            self.inner.close()
            _end(self.exchange, self.received, self.started, error)


class RecordingTransport(httpx.BaseTransport):
    """An HTTP transport that records every chat completion exchange it carries."""

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self.exchanges: list[Exchange] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        exchange, started = _exchange_of(request), time.monotonic()
        response = self.inner.handle_request(request)
        if exchange is None:
            return response
        self.exchanges.append(exchange)
        _begin(exchange, response)
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _Tee(response.stream, exchange, started)
        return response

    def close(self) -> None:
        self.inner.close()


class _AsyncTee(httpx.AsyncByteStream):
    """_Tee for asyncio clients."""

    def __init__(self, inner: httpx.AsyncByteStream, exchange: Exchange, started: float) -> None:
        self.inner, self.exchange, self.started = inner, exchange, started
        self.received = bytearray()
        self.iterator = inner.__aiter__()
        self.done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for piece in self.iterator:
            self.received.extend(piece)
            yield piece

    async def aclose(self) -> None:
        if self.done:
            return
        self.done = True
        error = None
        try:
            async for piece in self.iterator:
                self.received.extend(piece)
        except httpx.HTTPError as exc:
            error = exc
        finally:
            await self.inner.aclose()
            _end(self.exchange, self.received, self.started, error)


class AsyncRecordingTransport(httpx.AsyncBaseTransport):
    """RecordingTransport for asyncio clients."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        exchange, started = _exchange_of(request), time.monotonic()
        response = await self.inner.handle_async_request(request)
        if exchange is None:
            return response
        self.exchanges.append(exchange)
        _begin(exchange, response)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _AsyncTee(response.stream, exchange, started)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
