"""`concurrency` connections to one server as several small httpx clients instead of one large one.

httpcore 1.0.9 keeps its connection pool in order on every request that starts or ends by walking all its
connections, and for each idle one counts all of them again (`_assign_requests_to_connections`: O(N²) in the
pool's size; encode/httpcore#1035, open). One client with 64 connections spent most of its CPU there: on this
machine a plain client sending the suite's 144 requests 64 at a time used 3.4 s of CPU in 4.1 s and could
send no faster, while the same client split into pools of 8 used 1.1 s and finished in 1.9 s, the emulated
server's own pace. A request takes a free connection slot; each slot belongs to one client.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import ssl
from collections.abc import AsyncIterator

import httpx

POOL_SIZE = 8  # connections per client: the pool's upkeep grows with the square of this


def tls_context(verify: str | bool | ssl.SSLContext) -> ssl.SSLContext:
    """What httpx makes of verify (True, False, a CA bundle file or directory), made once."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    if isinstance(verify, str):  # httpx deprecates a path; this is what it would make of one
        return ssl.create_default_context(**{"capath" if os.path.isdir(verify) else "cafile": verify})
    return httpx.create_ssl_context(verify=verify)


class ClientPools:
    """At most `concurrency` requests at once, spread over clients of at most POOL_SIZE connections each."""

    def __init__(
        self,
        concurrency: int,
        timeout: float,
        verify: str | bool | ssl.SSLContext = True,
        keepalive_expiry: float | None = None,
        pool_size: int = POOL_SIZE,
    ) -> None:
        context = tls_context(verify)  # one for all: each client would otherwise load the CA bundle (0.1 s here)
        self._context, self._timeout = context, timeout
        count = max(1, math.ceil(concurrency / pool_size))
        sizes = [concurrency // count + (index < concurrency % count) for index in range(count)]
        self.clients: list[httpx.AsyncClient] = []
        # Last in, first out: requests one after another take the same client and its open connection, as in
        # a single pool; a burst still spreads over every client.
        self._free: asyncio.LifoQueue[httpx.AsyncClient] = asyncio.LifoQueue()
        for size in sizes:
            extra = {} if keepalive_expiry is None else {"keepalive_expiry": keepalive_expiry}
            limits = httpx.Limits(max_connections=size, max_keepalive_connections=size, **extra)
            client = httpx.AsyncClient(limits=limits, timeout=timeout, verify=context)
            self.clients.append(client)
        for _ in range(max(sizes)):  # interleaved, so that a burst spreads over every client
            for client, size in zip(self.clients, sizes, strict=True):
                if size > 0:
                    self._free.put_nowait(client)
            sizes = [size - 1 for size in sizes]

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[httpx.AsyncClient]:
        """Wait for a free connection slot; the client it belongs to, for one request (and its resends)."""
        client = await self._free.get()
        try:
            yield client
        finally:
            self._free.put_nowait(client)

    @contextlib.asynccontextmanager
    async def fresh(self) -> AsyncIterator[httpx.AsyncClient]:
        """A client of its own for one request: a new connection, closed after it, whatever the pools hold."""
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=0)
        async with httpx.AsyncClient(limits=limits, timeout=self._timeout, verify=self._context) as client:
            yield client

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()
