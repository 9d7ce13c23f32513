"""The emulated server of the benchmark: recorded answers replayed by request (seed aside), with its latency model.

The benchmark is the checkout's developer tools in benchmark/, beside selftests/, not in the package: it is
imported from the repository root (on sys.path: pytest's default import mode puts the folder above the
selftests package there) and its commands run there, as scripts/benchmark runs them.
"""

import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from benchmark.emulated import DEFAULT_RECORDING, FORMAT, load, replay_key
from benchmark.measure import REPO_ROOT, default_settings, suite_bodies

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
    command = [sys.executable, "-m", "benchmark.emulated", f"--recording={recording}",
               "--ttfb=0.2", "--chunk-delay=0.05", "--capacity=1"]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
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
    recording = load(DEFAULT_RECORDING)
    keys = {answer["key"] for answer in recording["answers"]}
    assert {replay_key(body) for body in suite_bodies(default_settings("http://x/v1", recording["model"]))} <= keys


@pytest.mark.parametrize("module", ["benchmark", "benchmark.emulated"])
def test_the_developer_tools_answer_help_from_the_repository_root(module: str):
    # No longer commands of python -m toolcall_conformance (whose every command test_layout starts): started here.
    run = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert f"usage: python -m {module}" in run.stdout


def test_the_package_imports_none_of_the_developer_tools():
    """The wheel does not carry benchmark/: a module of the package importing it would fail where it is installed."""
    package = REPO_ROOT / "toolcall_conformance"
    importing = [
        str(path.relative_to(REPO_ROOT))
        for path in package.rglob("*.py")
        if re.search(r"^\s*(from|import) benchmark\b", path.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert importing == []
