"""The SDK-view worker: the views it works out are the ones a test would work out, and it never holds anything up."""

import json
import os
import pickle
import signal
import time
from pathlib import Path

import pytest

from selftests.fault_server import FaultServer
from selftests.suite_run import run_suite
from selftests.test_sdk import _call_delta, _chunk, _exchange
from toolcall_conformance.judging import sdk_worker
from toolcall_conformance.judging.sdk import sdk_view
from toolcall_conformance.judging.sdk_worker import SdkViewWorker
from toolcall_conformance.session import SDK_WORKER_FROM
from toolcall_conformance.wire.client import Exchange, parse_response
from toolcall_conformance.wire.dispatch import DispatchState, request_key

RECORDING = Path(__file__).resolve().parent.parent / "benchmark" / "vllm-0.32.0-shaped.recording.json"


def _message(exchange: Exchange) -> bytes:
    """What the dispatcher's receiver hands over: the sending process's pickled answer."""
    return pickle.dumps(("answer", request_key(exchange.request), exchange, DispatchState()))


def _recorded(limit: int) -> list[Exchange]:
    """Answers of the real vLLM, as the benchmark's recording keeps them, each to its own request."""
    exchanges = []
    for position, answer in enumerate(json.loads(RECORDING.read_text())["answers"][:limit]):
        request = {"model": "m", "messages": [{"role": "user", "content": str(position)}], "stream": answer["stream"]}
        headers = {"content-type": answer["content_type"]}
        exchange = Exchange(
            "http://h/v1", request, answer["stream"], answer["status"], headers, answer["body"].encode()
        )
        parse_response(exchange)
        exchanges.append(exchange)
    return exchanges


def _odd() -> list[Exchange]:
    """Answers the SDK raises on, cannot read, or reads with a concatenated name; the last is to a strict tool."""
    index_one = [_chunk({"role": "assistant"}), _chunk(_call_delta(1, "{}", id="c1", name="ping")), _chunk({}, "stop")]
    twice = [_chunk(_call_delta(0, "{", id="c1", name="ping")), _chunk({"tool_calls": [{"index": 0,
             "function": {"name": "ping", "arguments": "}"}}]}), _chunk({}, "tool_calls")]  # fmt: skip
    exchanges = [_exchange({"id": "x"}), _exchange(events=index_one), _exchange(events=twice, strict=True)]
    for position, exchange in enumerate(exchanges):
        exchange.request["messages"][0]["content"] = f"odd {position}"  # distinct keys
    return exchanges


def test_the_worker_s_views_are_those_worked_out_in_the_test():
    exchanges = _recorded(24) + _odd()
    worker = SdkViewWorker()
    try:
        for exchange in exchanges:
            worker.expect(request_key(exchange.request), _message(exchange))
        assert [worker.view(exchange) for exchange in exchanges] == [sdk_view(exchange) for exchange in exchanges]
    finally:
        worker.close()
    assert any(view.raised for view in map(sdk_view, exchanges)) and any(
        view.calls for view in map(sdk_view, exchanges)
    )


def test_an_answer_it_was_never_given_has_no_view_there():
    worker = SdkViewWorker()
    try:
        assert worker.view(_recorded(1)[0]) is None
    finally:
        worker.close()


def test_a_stopped_worker_holds_up_neither_the_answers_nor_the_tests(monkeypatch: pytest.MonkeyPatch):
    """Handing over never blocks the dispatcher's receiver, and a test waits at most VIEW_WAIT, then works it out."""
    monkeypatch.setattr(sdk_worker, "VIEW_WAIT", 0.5)
    exchange = _recorded(1)[0]
    worker = SdkViewWorker()
    os.kill(worker._process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        big = exchange.raw * 200  # more a stopped reader would never take off the socket
        for number in range(40):
            worker.expect(f"big {number}", pickle.dumps(("answer", f"big {number}", big, None)))
        worker.expect(request_key(exchange.request), _message(exchange))
        assert time.monotonic() - started < 1.0
        assert worker.view(exchange) is None
    finally:
        os.kill(worker._process.pid, signal.SIGCONT)
        worker.close()


def test_a_killed_worker_answers_at_once_with_no_view(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sdk_worker, "VIEW_WAIT", 60.0)
    exchange = _recorded(1)[0]
    worker = SdkViewWorker()
    worker._process.kill()
    worker._process.wait()
    try:
        worker.expect(request_key(exchange.request), _message(exchange))
        started = time.monotonic()
        assert worker.view(exchange) is None
        assert time.monotonic() - started < 5.0
    finally:
        worker.close()


CURATED = "not hypothesis and not bad_request and not sdk_client"


def test_a_whole_run_takes_its_views_from_the_worker_and_they_still_fail_what_is_broken(pytester: pytest.Pytester):
    """Every curated test: past SDK_WORKER_FROM requests the views come from the worker, and a name sent in two
    deltas (which the SDK concatenates) still fails sdk.calls-agree on every streamed answer, and only there."""
    with FaultServer("repeat-name") as server:
        _, document = run_suite(pytester, server.base_url, "-m", CURATED)
    records = [record for record in document["tests"] if "matches_blocking" not in record["test"]]
    assert len(records) >= SDK_WORKER_FROM
    sdk_failures = {record["test"]: record["mode"] for record in records if "sdk.calls-agree" in _failed_checks(record)}
    assert sorted(set(sdk_failures.values())) == ["stream"]
    assert len(sdk_failures) == sum(record["mode"] == "stream" for record in records)
    assert document["sdk_views_from_worker"] == len(records)  # each answer's own test; the pairs judge no SDK view


def _failed_checks(record: dict) -> set[str]:
    return {violation["check"] for violation in record["violations"]}
