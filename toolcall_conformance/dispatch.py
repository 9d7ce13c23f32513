"""Sends the session's requests ahead of the tests that judge them, a bounded number at once."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import Future
from typing import Any

import httpx

from .client import Exchange, send


def request_key(body: dict[str, Any]) -> str:
    """Identical bodies are one request: the equivalence tests reuse the answers of the others."""
    return json.dumps(body, sort_keys=True, ensure_ascii=False)


class Dispatcher:
    """Runs requests on an event loop in a background thread; tests wait for their own exchange."""

    def __init__(self, endpoint: str, api_key: str, timeout: float, concurrency: int) -> None:
        self.endpoint = endpoint
        self._api_key = api_key
        self._timeout = timeout
        self._concurrency = concurrency
        self._futures: dict[str, Future[Exchange]] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcc-dispatch", daemon=True)
        self._thread.start()
        self._slots, self._http = asyncio.run_coroutine_threadsafe(self._open(), self._loop).result()

    async def _open(self) -> tuple[asyncio.Semaphore, httpx.AsyncClient]:
        limits = httpx.Limits(max_connections=self._concurrency, max_keepalive_connections=self._concurrency)
        return asyncio.Semaphore(self._concurrency), httpx.AsyncClient(limits=limits, timeout=self._timeout)

    @property
    def sent(self) -> int:
        return len(self._futures)

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
            return await send(self._http, self.endpoint, self._api_key, body, self._timeout)

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
