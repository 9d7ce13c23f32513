"""Sends the session's requests ahead of the tests that judge them, a bounded number at once."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import httpx

from .client import TRANSPORT_BROKEN, TRANSPORT_CONNECT, TRANSPORT_TIMEOUT, Exchange, not_sent, send
from .schema import shorten

# After this many failed answers in a row (5xx or broken connections) the server is probed.
FAILURES_BEFORE_PROBE = 3
PROBE_TIMEOUT = 5.0
KEEPALIVE_EXPIRY = 2.0
OVERLOADED = (429, 503)
MAX_BACKOFF = 30.0


def _broke_before_answering(exchange: Exchange) -> bool:
    error = exchange.transport_error
    return error is not None and error.kind == TRANSPORT_BROKEN and exchange.status is None


def _backoff(exchange: Exchange, attempt: int) -> float:
    """The server's Retry-After when it gives one in seconds, else 0.5 s doubling per attempt."""
    try:
        wanted = float(exchange.headers.get("retry-after", ""))
    except ValueError:
        wanted = math.nan
    if not math.isfinite(wanted):
        wanted = 0.5 * 2**attempt
    return min(max(wanted, 0.0), MAX_BACKOFF)


@dataclass(frozen=True)
class ServerDeath:
    """When the server stopped answering, after how many good answers, and the last thing it said."""

    noticed: float
    good_answers: int
    requests_sent: int
    last_error: str

    def describe(self) -> str:
        clock = time.strftime("%H:%M:%S", time.gmtime(self.noticed))
        return (
            f"the server died at {clock} UTC, after {self.good_answers} good answers to "
            f"{self.requests_sent} requests; last error: {self.last_error}"
        )


def _error_of(exchange: Exchange) -> str:
    if exchange.transport_error is not None:
        return f"{exchange.transport_error.kind}: {exchange.transport_error.message}"
    return f"HTTP {exchange.status}: {shorten(exchange.raw.decode('utf-8', errors='replace'), 200)}"


def request_key(body: dict[str, Any]) -> str:
    """Identical bodies are one request: the equivalence tests reuse the answers of the others."""
    return json.dumps(body, sort_keys=True, ensure_ascii=False)


class Dispatcher:
    """Runs requests on an event loop in a background thread; tests wait for their own exchange."""

    def __init__(
        self,
        endpoint: str,
        api_key: str,
        timeout: float,
        concurrency: int,
        *,
        retries: int = 0,
        verify: str | bool = True,
    ) -> None:
        self.endpoint = endpoint
        self._retries = retries
        self._verify = verify
        self._api_key = api_key
        self._timeout = timeout
        self._concurrency = concurrency
        self._futures: dict[str, Future[Exchange]] = {}
        self.death: ServerDeath | None = None
        self.first_sent: float | None = None
        self._good = 0
        self._started = 0
        self._failures_in_a_row = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcc-dispatch", daemon=True)
        self._thread.start()
        self._slots, self._http = asyncio.run_coroutine_threadsafe(self._open(), self._loop).result()

    async def _open(self) -> tuple[asyncio.Semaphore, httpx.AsyncClient]:
        # Idle connections are dropped before servers drop them (uvicorn: after 5 s, httpx's default too):
        # reusing one the server is closing breaks the request before any answer, which is no server fault.
        limits = httpx.Limits(
            max_connections=self._concurrency,
            max_keepalive_connections=self._concurrency,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        )
        client = httpx.AsyncClient(limits=limits, timeout=self._timeout, verify=self._verify)
        return asyncio.Semaphore(self._concurrency), client

    @property
    def sent(self) -> int:
        """Requests that really went out (queued ones cancelled by a server's death do not count)."""
        return self._started

    def submit(self, body: dict[str, Any]) -> Future[Exchange]:
        """Queue a request unless the same body was queued already; in submission order."""
        key = request_key(body)
        with self._lock:
            future = self._futures.get(key)
            if future is None:
                future = asyncio.run_coroutine_threadsafe(self._send(body), self._loop)
                self._futures[key] = future
        return future

    async def _send(self, body: dict[str, Any]) -> Exchange:
        async with self._slots:
            if self.death is not None:
                return not_sent(self.endpoint, body, f"not sent: {self.death.describe()}")
            self._started += 1
            self.first_sent = self.first_sent or time.time()
            exchange = await send(self._http, self.endpoint, self._api_key, body, self._timeout)
            retries: list[dict[str, Any]] = []
            if _broke_before_answering(exchange):
                # A pooled connection the server closed as it was reused: resend once on a fresh one.
                retries.append({"status": None, "reason": exchange.transport_error.message, "waited": 0.0})
                exchange = await send(self._http, self.endpoint, self._api_key, body, self._timeout)
            while exchange.status in OVERLOADED and len(retries) < self._retries:
                wait = _backoff(exchange, len(retries))
                retries.append({"status": exchange.status, "waited": wait})
                await asyncio.sleep(wait)
                exchange = await send(self._http, self.endpoint, self._api_key, body, self._timeout)
            exchange.retries = retries
            await self._watch(exchange)
            return exchange

    async def _watch(self, exchange: Exchange) -> None:
        """Notice a server that answered before and now refuses connections or fails every request."""
        if exchange.ok:
            self._good += 1
            self._failures_in_a_row = 0
            return
        error = exchange.transport_error
        broken = (error is not None and error.kind != TRANSPORT_TIMEOUT) or (exchange.status or 0) >= 500
        self._failures_in_a_row = self._failures_in_a_row + 1 if broken else 0
        refused = error is not None and error.kind == TRANSPORT_CONNECT
        suspicious = refused or self._failures_in_a_row >= FAILURES_BEFORE_PROBE
        if self.death is None and self._good and suspicious and not await self._answers_models():
            self.death = ServerDeath(time.time(), self._good, self._started, _error_of(exchange))

    async def _answers_models(self) -> bool:
        try:
            response = await self._http.get(
                self.endpoint + "/models", headers={"Authorization": f"Bearer {self._api_key}"}, timeout=PROBE_TIMEOUT
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def exchange(self, body: dict[str, Any]) -> Exchange:
        """The exchange for a body, sending it now if nobody queued it before."""
        return self.submit(body).result()

    def close(self) -> None:
        """Cancel what is still queued and stop the loop."""
        with self._lock:
            for future in self._futures.values():
                future.cancel()
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._http.aclose(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()
