"""Sends one chat completion request and keeps everything that came back, as it came back."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..jsontext import strict_json
from ..redact import url_without_credentials
from .stream import SseEvent, parse_sse

TRANSPORT_CONNECT = "transport.connect"
TRANSPORT_TIMEOUT = "transport.timeout"
TRANSPORT_BROKEN = "transport.broken"
SERVER_DIED = "server.died"
SENDER_STOPPED = "suite.sender-stopped"


@dataclass(frozen=True)
class TransportError:
    """The exchange could not be completed: kind is a stable id, message says what happened."""

    kind: str
    message: str


@dataclass
class Exchange:
    """One request and everything its response carried, raw and parsed."""

    url: str
    request: dict[str, Any]
    stream: bool
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""
    json_body: Any = None
    json_error: str | None = None
    events: list[SseEvent] = field(default_factory=list)
    transport_error: TransportError | None = None
    elapsed: float = 0.0
    retries: list[dict[str, Any]] = field(default_factory=list)
    sent: bytes | None = None  # the body as sent, when it is not request's JSON (send_raw)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def ok(self) -> bool:
        return self.transport_error is None and self.status == 200


def error_message(exchange: Exchange) -> str:
    """What an answer that is no success says: its error object's message (OpenAI's {"error": {"message"}}, or
    a top-level "message" or "detail"), else its body as text; for an exchange that broke, what broke."""
    if exchange.transport_error is not None:
        return f"{exchange.transport_error.kind}: {exchange.transport_error.message}"
    body = exchange.json_body
    if isinstance(body, dict):
        error = body.get("error")
        for message in (
            error.get("message") if isinstance(error, dict) else None,
            body.get("message"),
            body.get("detail"),
        ):
            if isinstance(message, str):
                return message
    return exchange.raw.decode("utf-8", errors="replace")


def not_sent(endpoint: str, body: dict[str, Any], reason: str, kind: str = SERVER_DIED) -> Exchange:
    """An exchange that never happened, and why: by default because the server had died."""
    exchange = Exchange(url=chat_url(endpoint), request=body, stream=bool(body.get("stream")))
    exchange.transport_error = TransportError(kind, reason)
    return exchange


def chat_url(endpoint: str) -> str:
    """The chat completions URL under a base URL ending in /v1."""
    return endpoint.rstrip("/") + "/chat/completions"


async def send(http: httpx.AsyncClient, endpoint: str, api_key: str, body: dict[str, Any], timeout: float) -> Exchange:
    """POST one chat completion and return the Exchange; never raises for what the server does."""
    exchange = Exchange(url=chat_url(endpoint), request=body, stream=bool(body.get("stream")))
    return await _complete(http, exchange, api_key, timeout)


async def send_raw(http: httpx.AsyncClient, endpoint: str, api_key: str, content: bytes, timeout: float) -> Exchange:
    """POST bytes exactly as given, JSON or not, as application/json; never raises for what the server does."""
    exchange = Exchange(url=chat_url(endpoint), request={}, stream=False, sent=content)
    return await _complete(http, exchange, api_key, timeout)


def send_with_follow_up(
    endpoint: str,
    api_key: str,
    timeout: float,
    verify: str | bool,
    first: dict[str, Any] | bytes,
    follow_up: dict[str, Any],
) -> tuple[Exchange, Exchange | None]:
    """Send `first` (a JSON body, or bytes as given), then `follow_up` if `first` was answered at all.

    Each on a fresh connection: a server may close the connection after refusing a request, and a follow-up
    that raced that close would look like a dead server. Never raises for what the server does."""

    async def both() -> tuple[Exchange, Exchange | None]:
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=timeout, verify=verify, limits=limits) as http:
            if isinstance(first, bytes):
                answer = await send_raw(http, endpoint, api_key, first, timeout)
            else:
                answer = await send(http, endpoint, api_key, first, timeout)
            if answer.transport_error is not None:
                return answer, None
            return answer, await send(http, endpoint, api_key, follow_up, timeout)

    return asyncio.run(both())


async def _complete(http: httpx.AsyncClient, exchange: Exchange, api_key: str, timeout: float) -> Exchange:
    clock = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            await _receive(http, exchange, api_key)
    except TimeoutError:
        exchange.transport_error = TransportError(
            TRANSPORT_TIMEOUT, f"no complete response within {timeout:g} s ({_progress(exchange)})"
        )
    except httpx.ConnectError as exc:
        exchange.transport_error = TransportError(
            TRANSPORT_CONNECT, f"cannot connect to {url_without_credentials(exchange.url)}: {exc}"
        )
    except (httpx.TransportError, httpx.StreamError) as exc:
        exchange.transport_error = TransportError(
            TRANSPORT_BROKEN, f"connection broke: {type(exc).__name__}: {exc or 'no detail'} ({_progress(exchange)})"
        )
    exchange.elapsed = time.monotonic() - clock
    parse_response(exchange)
    return exchange


async def _receive(http: httpx.AsyncClient, exchange: Exchange, api_key: str) -> None:
    headers = {
        "Accept-Encoding": "identity",
        "Authorization": f"Bearer {api_key}",
        "Accept": "text/event-stream" if exchange.stream else "application/json",
    }
    body: dict[str, Any] = {"json": exchange.request}
    if exchange.sent is not None:
        headers["Content-Type"] = "application/json"
        body = {"content": exchange.sent}
    async with http.stream("POST", exchange.url, headers=headers, **body) as response:
        exchange.status = response.status_code
        exchange.headers = {key.lower(): value for key, value in response.headers.items()}
        received = bytearray()
        try:
            async for chunk in response.aiter_raw():
                received.extend(chunk)
        finally:
            exchange.raw = bytes(received)


def _progress(exchange: Exchange) -> str:
    if exchange.status is None:
        return "before response headers"
    return f"after HTTP {exchange.status} and {len(exchange.raw)} bytes"


def parse_response(exchange: Exchange) -> None:
    """Fill in the parsed forms of a received answer: its events, or its JSON body (or why it is none)."""
    if exchange.status is None:
        return
    if exchange.stream and exchange.status == 200:
        exchange.events = parse_sse(exchange.raw)
        return
    try:
        exchange.json_body = strict_json(exchange.raw)
    except (ValueError, UnicodeDecodeError) as exc:
        exchange.json_error = f"{type(exc).__name__}: {exc}"
