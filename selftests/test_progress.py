"""The progress line: tests judged of all, failures so far, requests answered."""

from __future__ import annotations

import re

import pytest

from selftests.fault_server import FaultServer
from selftests.suite_run import run_suite
from toolcall_conformance.reporting import progress


def test_a_run_says_where_it_is(pytester: pytest.Pytester):
    with FaultServer("args-not-object") as server:
        result, _ = run_suite(pytester, server.base_url, "-k", "weather-seed and test_required", "--progress-every=0")
    lines = [line for line in result.stdout.lines if line.startswith("progress:")]
    assert len(lines) == 4, result.stdout.str()
    assert re.fullmatch(r"progress: 4/4 tests judged, 4 failed; 4/4 requests answered; \d+ s", lines[-1])
    assert lines[0].startswith("progress: 1/4 tests judged, 1 failed;")


def test_the_line_is_rate_limited():
    said: list[str] = []
    line = progress.Progress(said.append, every=3600)
    line.total = 2
    for when in ("setup", "call", "teardown"):
        line.pytest_runtest_logreport(pytest.TestReport("t", ("f", 1, "t"), {}, "passed", None, when))
    assert said == []
    assert line.line().startswith("progress: 1/2 tests judged, 0 failed;")
