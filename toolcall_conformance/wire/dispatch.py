"""Sends the session's requests ahead of the tests that judge them, a bounded number at once.

The sending runs in a child process. In the pytest process it starved: every socket read of the
sending thread waited for the GIL behind pytest's own work, and a run's requests took twice as long
as the same requests sent alone (measured with scripts/benchmark and py-spy; see docs/findings/speed.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import pickle
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from ..jsontext import shorten
from .child import start_child, wait_or_kill
from .client import (
    SENDER_STOPPED,
    TRANSPORT_BROKEN,
    TRANSPORT_CONNECT,
    TRANSPORT_TIMEOUT,
    Exchange,
    error_message,
    not_sent,
    send,
)
from .pools import ClientPools

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
    """The last error before a death, as ServerDeath keeps it."""
    if exchange.transport_error is not None:
        return error_message(exchange)
    return f"HTTP {exchange.status}: {shorten(error_message(exchange), 200)}"


def request_key(body: dict[str, Any]) -> str:
    """Identical bodies are one request: the equivalence tests reuse the answers of the others."""
    return json.dumps(body, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class SenderConfig:
    """What the sending process needs to know."""

    endpoint: str
    api_key: str
    timeout: float
    concurrency: int
    retries: int = 0
    verify: str | bool = True


@dataclass(frozen=True)
class DispatchState:
    """How far the sending got: reported with every answer."""

    sent: int = 0
    answered: int = 0
    first_sent: float | None = None
    last_answered: float | None = None
    death: ServerDeath | None = None


@dataclass
class _Sender:
    """Sends requests on the child's event loop: resends, overload retries, and noticing a server's death."""

    config: SenderConfig
    pools: ClientPools
    state: DispatchState = field(default_factory=DispatchState)
    good: int = 0
    failures_in_a_row: int = 0

    @classmethod
    def open(cls, config: SenderConfig) -> _Sender:
        # Idle connections are dropped before servers drop them (uvicorn: after 5 s, httpx's default too):
        # reusing one the server is closing breaks the request before any answer, which is no server fault.
        pools = ClientPools(config.concurrency, config.timeout, config.verify, keepalive_expiry=KEEPALIVE_EXPIRY)
        return cls(config, pools)

    async def _post(self, http: httpx.AsyncClient, body: dict[str, Any]) -> Exchange:
        config = self.config
        return await send(http, config.endpoint, config.api_key, body, config.timeout)

    async def send(self, body: dict[str, Any]) -> Exchange:
        async with self.pools.slot() as http:
            if self.state.death is not None:
                return not_sent(self.config.endpoint, body, f"not sent: {self.state.death.describe()}")
            self._update(sent=self.state.sent + 1, first_sent=self.state.first_sent or time.time())
            exchange = await self._post(http, body)
            retries: list[dict[str, Any]] = []
            if _broke_before_answering(exchange):
                # A pooled connection the server closed as it was reused: resend once on a new connection of
                # its own (the pool could hand over another kept-alive one, which such a server drops as well).
                # judging/checks.py's http.connection-reuse judges the drop from this record.
                retries.append({"status": None, "reason": exchange.transport_error.message, "waited": 0.0})
                async with self.pools.fresh() as fresh:
                    exchange = await self._post(fresh, body)
            while exchange.status in OVERLOADED and len(retries) < self.config.retries:
                wait = _backoff(exchange, len(retries))
                retries.append({"status": exchange.status, "waited": wait})
                await asyncio.sleep(wait)
                exchange = await self._post(http, body)
            exchange.retries = retries
            self._update(answered=self.state.answered + 1, last_answered=time.time())
            await self._watch(exchange)
            return exchange

    def _update(self, **changes: Any) -> None:
        self.state = DispatchState(**{**self.state.__dict__, **changes})

    async def _watch(self, exchange: Exchange) -> None:
        """Notice a server that answered before and now refuses connections or fails every request."""
        if exchange.ok:
            self.good += 1
            self.failures_in_a_row = 0
            return
        error = exchange.transport_error
        broken = (error is not None and error.kind != TRANSPORT_TIMEOUT) or (exchange.status or 0) >= 500
        self.failures_in_a_row = self.failures_in_a_row + 1 if broken else 0
        refused = error is not None and error.kind == TRANSPORT_CONNECT
        suspicious = refused or self.failures_in_a_row >= FAILURES_BEFORE_PROBE
        if self.state.death is None and self.good and suspicious and not await self._answers_models():
            death = ServerDeath(time.time(), self.good, self.state.sent, _error_of(exchange))
            self._update(death=death)

    async def _answers_models(self) -> bool:
        try:
            response = await self.pools.clients[0].get(
                self.config.endpoint + "/models",
                headers={"Authorization": f"Bearer {self.config.api_key}"},
                timeout=PROBE_TIMEOUT,
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200


def _sending_process(descriptor: int) -> None:
    """The child: reads its config, then answers ("send", key, body) until ("stop",) or the parent's end closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us by closing
    connection = Connection(descriptor)
    asyncio.run(_serve(connection, connection.recv()))


async def _serve(connection: Connection, config: SenderConfig) -> None:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    def read() -> None:
        while True:
            try:
                message = connection.recv()
            except (EOFError, OSError):
                message = ("stop",)
            loop.call_soon_threadsafe(inbox.put_nowait, message)
            if message[0] == "stop":
                return

    threading.Thread(target=read, name="tcc-dispatch-inbox", daemon=True).start()
    sender = _Sender.open(config)
    tasks: set[asyncio.Task[None]] = set()

    async def answer(key: str, body: dict[str, Any]) -> None:
        try:
            exchange = await sender.send(body)
        except Exception as exc:  # a bug here must not leave a test waiting forever
            exchange = not_sent(config.endpoint, body, f"the suite failed to send: {type(exc).__name__}: {exc}")
        with contextlib.suppress(OSError, ValueError):  # the parent is gone: nobody waits for this answer
            connection.send_bytes(_answer_message(key, exchange, sender.state))

    while (message := await inbox.get())[0] == "send":
        task = asyncio.create_task(answer(message[1], message[2]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await sender.pools.aclose()
    _post_back(connection, ("closed", sender.state))


def _answer_message(key: str, exchange: Exchange, state: DispatchState) -> bytes:
    """The pickled answer; a body decoded into JSON too deeply nested to pickle goes without its decoded form."""
    try:
        return pickle.dumps(("answer", key, exchange, state))
    except RecursionError:
        exchange.json_body, exchange.events = None, []
        exchange.json_error = "ValueError: nested too deeply to decode"
        return pickle.dumps(("answer", key, exchange, state))


def _post_back(connection: Connection, message: tuple[Any, ...]) -> None:
    with contextlib.suppress(OSError, ValueError):  # the parent is gone: nobody waits for this answer
        connection.send(message)


class Dispatcher:
    """Sends requests from a child process; tests wait for their own exchange."""

    def __init__(
        self,
        endpoint: str,
        api_key: str,
        timeout: float,
        concurrency: int,
        *,
        retries: int = 0,
        verify: str | bool = True,
        log_path: Path | None = None,
        on_answer: Callable[[str, bytes], None] | None = None,
    ) -> None:
        """on_answer(key, message): called in the receiving thread with each answer as it arrives, still
        pickled (("answer", key, exchange, state)); it must not block."""
        self.endpoint = endpoint
        self._on_answer = on_answer
        self._log_path = log_path
        self._futures: dict[str, Future[Exchange]] = {}
        self._bodies: dict[str, dict[str, Any]] = {}
        self._state = DispatchState()
        self._lock = threading.Lock()
        self._process, self._connection = start_child(__name__, "_sending_process", log_path)
        self._connection.send(SenderConfig(endpoint, api_key, timeout, concurrency, retries, verify))
        self._receiver = threading.Thread(target=self._receive, name="tcc-dispatch-answers", daemon=True)
        self._receiver.start()

    @property
    def sent(self) -> int:
        """Requests that really went out (queued ones cancelled by a server's death do not count)."""
        return self._state.sent

    @property
    def answered(self) -> int:
        return self._state.answered

    @property
    def queued(self) -> int:
        """Distinct requests asked for so far."""
        return len(self._futures)

    @property
    def first_sent(self) -> float | None:
        return self._state.first_sent

    @property
    def last_answered(self) -> float | None:
        return self._state.last_answered

    @property
    def death(self) -> ServerDeath | None:
        return self._state.death

    @property
    def died(self) -> str | None:
        """How the server died (ServerDeath.describe), or None while it answers: what verdict.py is told."""
        return self._state.death.describe() if self._state.death is not None else None

    def submit(self, body: dict[str, Any]) -> Future[Exchange]:
        """Queue a request unless the same body was queued already; in submission order."""
        key = request_key(body)
        with self._lock:
            future = self._futures.get(key)
            if future is None:
                future = Future()
                self._futures[key] = future
                self._bodies[key] = body
                try:
                    self._connection.send(("send", key, body))
                except (OSError, ValueError):
                    future.set_result(self._unsent(body))
        return future

    def _receive(self) -> None:
        while True:
            try:
                raw = self._connection.recv_bytes()
            except (EOFError, OSError):
                break
            message = pickle.loads(raw)
            self._state = message[-1]
            if message[0] == "closed":
                break
            if self._on_answer is not None:
                self._on_answer(message[1], raw)
            future = self._futures[message[1]]
            if not future.done():
                future.set_result(message[2])
        with self._lock:
            for key, future in self._futures.items():
                if not future.done():
                    future.set_result(self._unsent(self._bodies[key]))

    def _unsent(self, body: dict[str, Any]) -> Exchange:
        """A request the sending process will never answer: it stopped, or it was stopped at the end of the run."""
        code = self._process.poll()
        how = "was stopped" if code == 0 else f"exited with code {code}" if code is not None else "stopped answering"
        return not_sent(self.endpoint, body, f"not sent: the suite's sending process {how}", SENDER_STOPPED)

    def exchange(self, body: dict[str, Any]) -> Exchange:
        """The exchange for a body, sending it now if nobody queued it before."""
        return self.submit(body).result()

    def close(self) -> None:
        """Stop the sending process; what it had not answered resolves as not sent."""
        with contextlib.suppress(OSError, ValueError):
            self._connection.send(("stop",))
        self._receiver.join(timeout=10)
        wait_or_kill(self._process)
        self._connection.close()
        if self._log_path is not None:
            # xdist's workers share the run's log: another may remove the empty file between the look and the unlink.
            with contextlib.suppress(FileNotFoundError):
                if not self._log_path.stat().st_size:
                    self._log_path.unlink()  # it had nothing to say
