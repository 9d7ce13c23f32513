"""A progress line while a run goes on: tests judged of all, failures so far, requests answered."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


class Progress:
    """A pytest plugin of the controlling process: counts finished tests and says where the run is."""

    def __init__(self, say: Callable[[str], None], every: float) -> None:
        self._say = say
        self._every = every
        self._started = time.monotonic()
        self._last_said: float | None = None  # the clock starts with the first test, after any target start-up
        self.total = 0
        self.done = 0
        self.failed: set[str] = set()
        self.requests: Callable[[], tuple[int, int]] | None = None

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = len(session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.total = len(ids)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A test is done at its teardown; it failed if any of its phases did."""
        if report.failed:
            self.failed.add(report.nodeid)
        if report.when != "teardown":
            return
        self.done += 1
        now = time.monotonic()
        if self._last_said is None:
            self._last_said = now
        if now - self._last_said >= self._every:
            self._last_said = now
            self._say(self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self._started
        text = f"progress: {self.done}/{self.total or '?'} tests judged, {len(self.failed)} failed"
        if self.requests is not None:
            answered, queued = self.requests()
            text += f"; {answered}/{queued} requests answered"
        return f"{text}; {elapsed:.0f} s"
