"""The emulated server of the benchmark: recorded answers replayed by request (seed aside), with its latency model."""

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from toolcall_conformance.emulated import DEFAULT_RECORDING, FORMAT, load, replay_key

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": False, "seed": 1}
STREAM_BODY = {**BODY, "stream": True}
COMPLETION = {"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": []}
EVENTS = "".join(f"data: {json.dumps({'n': n})}\n\n" for n in range(3)) + "data: [DONE]\n\n"


@pytest.fixture
def server(tmp_path: Path):
    answers = [
        {"key": replay_key(BODY), "stream": False, "status": 200, "content_type": "application/json",
         "body": json.dumps(COMPLETION), "completion_tokens": 10},
        {"key": replay_key(STREAM_BODY), "stream": True, "status": 200, "content_type": "text/event-stream",
         "body": EVENTS, "completion_tokens": 3},
    ]  # fmt: skip
    recording = tmp_path / "recording.json"
    recording.write_text(json.dumps({"format": FORMAT, "model": "m", "answers": answers}))
    command = [sys.executable, "-m", "toolcall_conformance", "emulate", f"--recording={recording}",
               "--ttfb=0.2", "--chunk-delay=0.05", "--capacity=1"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    url = process.stdout.readline().strip()
    yield url
    process.terminate()
    process.wait(timeout=10)


def test_an_answer_is_replayed_whatever_the_seed(server):
    started = time.perf_counter()
    answer = httpx.post(server + "/chat/completions", json={**BODY, "seed": 99}, timeout=10)
    assert answer.status_code == 200 and answer.json() == COMPLETION
    assert time.perf_counter() - started >= 0.2 + 10 * 0.05  # time to first byte, then its 10 tokens' worth


def test_a_stream_comes_event_by_event(server):
    with httpx.stream("POST", server + "/chat/completions", json=STREAM_BODY, timeout=10) as answer:
        assert answer.headers["content-type"] == "text/event-stream"
        assert "".join(answer.iter_text()) == EVENTS


def test_beyond_capacity_requests_wait_in_line(server):
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        codes = list(
            pool.map(lambda _: httpx.post(server + "/chat/completions", json=BODY, timeout=10).status_code, range(2))
        )
    assert codes == [200, 200] and time.perf_counter() - started >= 2 * (0.2 + 10 * 0.05)  # capacity 1: one by one


def test_an_unrecorded_request_is_a_named_error(server):
    answer = httpx.post(server + "/chat/completions", json={**BODY, "model": "other"}, timeout=10)
    assert answer.status_code == 400 and answer.json()["error"]["message"] == "no recorded answer for this request"
    assert httpx.get(server + "/models").json()["data"][0]["id"] == "m"


def test_the_committed_recording_holds_every_curated_request():
    from toolcall_conformance.benchmark import suite_bodies
    from toolcall_conformance.benchmark_emulated import _settings

    recording = load(DEFAULT_RECORDING)
    keys = {answer["key"] for answer in recording["answers"]}
    assert {replay_key(body) for body in suite_bodies(_settings("http://x/v1", recording["model"]))} <= keys
