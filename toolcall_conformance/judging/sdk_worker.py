"""The SDK's view of each answer, worked out in a process of its own as the answers arrive.

openai-python builds a pydantic object per chunk and rebuilds its snapshot of the message on every one (about
0.5 ms a chunk here): the largest part of judging an answer. With 64 answers in flight the pytest process cannot
do that and the rest of its work as fast as the answers come, so a second process does it on the other core
and a test's judging takes the view that process worked out. It is the same view: the same sdk_view() on the
same exchange, as the sending process received it. When the worker cannot give one (it stopped, it never got
that answer, or it is more than VIEW_WAIT behind), the test works the view out itself, as without a worker.
"""

from __future__ import annotations

import pickle
import queue
import signal
import subprocess
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from multiprocessing.connection import Connection
from pathlib import Path

from ..wire.child import start_child, wait_or_kill
from ..wire.client import Exchange
from ..wire.dispatch import request_key
from .sdk import SdkView, sdk_view
from .sdk import warm_up as warm_up_sdk

VIEW_WAIT = 30.0  # seconds a test waits for the worker's view before working it out itself
_STOP = b"stop"  # no pickle is this


class SdkViewWorker:
    """A process that replays answers through openai-python as the dispatcher receives them."""

    def __init__(self, log_path: Path | None = None) -> None:
        self._futures: dict[str, Future[SdkView | None]] = {}
        self._lock = threading.Lock()
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._closing = threading.Event()
        self._gone = False  # the worker stopped answering: no view will come from it
        self.given = 0  # views handed to tests
        self._process, self._connection = start_child(__name__, "_working_process", log_path, stdout=subprocess.DEVNULL)
        # The dispatcher's receiver hands answers over and goes on: a busy worker must never hold up the answers.
        self._sender = threading.Thread(target=self._send, name="tcc-sdk-view-out", daemon=True)
        self._receiver = threading.Thread(target=self._receive, name="tcc-sdk-view-in", daemon=True)
        self._sender.start()
        self._receiver.start()

    def expect(self, key: str, answer_message: bytes) -> None:
        """Hand over one of the dispatcher's answer messages (pickled ("answer", key, exchange, state))."""
        with self._lock:
            if key in self._futures:
                return
            future: Future[SdkView | None] = Future()
            self._futures[key] = future
            if self._gone:
                future.set_result(None)
                return
        self._outbox.put(answer_message)

    def view_of(self, exchange: Exchange) -> SdkView:
        """The SDK's view of an answer: the worker's, worked out as it arrived, if there is one; else worked out now."""
        view = self.view(exchange)
        return view if view is not None else sdk_view(exchange)

    def view(self, exchange: Exchange) -> SdkView | None:
        """The worker's view of this exchange, or None when it has none to give."""
        with self._lock:
            future = self._futures.get(request_key(exchange.request))
        if future is None:
            return None
        try:
            view = future.result(timeout=VIEW_WAIT)
        except FutureTimeout:
            return None
        self.given += view is not None
        return view

    def _send(self) -> None:
        while True:
            message = self._outbox.get()
            if message is not None and self._closing.is_set():
                continue  # nobody will ask for these views any more
            try:
                self._connection.send_bytes(_STOP if message is None else message)
            except (OSError, ValueError):
                return  # the worker is gone: _receive resolves what it never answered
            if message is None:
                return

    def _receive(self) -> None:
        while True:
            try:
                key, view = pickle.loads(self._connection.recv_bytes())
            except (EOFError, OSError, pickle.UnpicklingError):
                break
            with self._lock:
                future = self._futures.get(key)
            if future is not None and not future.done():
                future.set_result(view)
        with self._lock:
            self._gone = True
            for future in self._futures.values():
                if not future.done():
                    future.set_result(None)

    def close(self) -> None:
        """Stop the worker; tests still waiting work their views out themselves."""
        self._closing.set()
        self._outbox.put(None)
        self._sender.join(timeout=5)
        wait_or_kill(self._process)
        self._receiver.join(timeout=5)
        self._connection.close()


def _working_process(descriptor: int) -> None:
    """The worker: warms the SDK up, then answers each answer message with (key, view) until its input ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us by closing
    connection = Connection(descriptor)
    warm_up_sdk()
    while True:
        try:
            raw = connection.recv_bytes()
        except (EOFError, OSError):
            return
        if raw == _STOP:
            return
        _kind, key, exchange, _state = pickle.loads(raw)
        try:
            view: SdkView | None = sdk_view(exchange)
        except Exception:  # sdk_view catches what the SDK raises; anything else: the test works it out itself
            view = None
        try:
            connection.send_bytes(pickle.dumps((key, view)))
        except (OSError, ValueError):
            return
