"""Whatever the server does, the suite gives a verdict: unreachable, hung, garbage, reset, dying servers."""

from __future__ import annotations

import re
import socket
import time

import pytest

from selftests.fault_server import FaultServer
from selftests.suite_run import run_suite

SEED_REQUIRED = "weather-seed and not strict and test_required"


def run(pytester: pytest.Pytester, endpoint: str, *args: str) -> tuple[pytest.RunResult, dict, float]:
    """Run the suite; return pytest's result, results.json (or {}) and the wall time."""
    started = time.monotonic()
    result, document = run_suite(pytester, endpoint, *args)
    return result, document, time.monotonic() - started


def verdicts(document: dict) -> dict[str, str]:
    return {record["test"]: record["verdict"] for record in document["tests"]}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_endpoint_is_one_clear_error_per_test_within_seconds(pytester: pytest.Pytester):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    result, _, elapsed = run(pytester, url, "-k", "weather-seed")
    result.assert_outcomes(errors=16)
    output = result.stdout.str()
    sections = output.split("= short test summary info =")[0].split("_ ERROR at setup of ")[1:]
    assert len(sections) == 16
    assert all(
        section.splitlines()[1] == f"preflight failed: cannot reach {url}/models: [Errno 111] Connection refused"
        for section in sections
    )
    assert "Traceback" not in output
    # Not a speed target (machines are noisy): a bound that one test waiting out a request timeout (60 s) exceeds.
    assert elapsed < 60


def test_wrong_path_names_the_url_and_hints_at_v1(pytester: pytest.Pytester):
    with FaultServer() as server:
        wrong = server.base_url.removesuffix("/v1") + "/api"
        result, _, _ = run(pytester, wrong, "-k", SEED_REQUIRED)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [f"preflight failed: GET {wrong}/models answered HTTP 404 (does --endpoint end in /v1?)*"]
    )


@pytest.mark.parametrize("fault", ["hang-before-headers", "hang-mid-stream"])
def test_a_hung_server_gives_timeout_verdicts_and_the_run_finishes(pytester: pytest.Pytester, fault: str):
    with FaultServer(fault) as server:
        result, document, elapsed = run(pytester, server.base_url, "--request-timeout=1", "-k", SEED_REQUIRED)
    assert set(verdicts(document).values()) == {"timeout"}
    result.stdout.fnmatch_lines(["*[[]transport.timeout[]] no complete response within 1 s*"])
    # An unhonoured timeout would hang until the server stops; the bound leaves a loaded machine room.
    assert result.ret == 1 and elapsed < 60


def test_a_reset_connection_is_a_named_error(pytester: pytest.Pytester):
    with FaultServer("reset-mid-stream") as server:
        result, document, _ = run(pytester, server.base_url, "-k", SEED_REQUIRED)
    assert set(verdicts(document).values()) == {"error"}
    result.stdout.fnmatch_lines(["*[[]transport.broken[]] connection broke*"])
    assert result.ret == 1


@pytest.mark.parametrize(
    ("fault", "check"),
    [("truncated-json-body", "http.json"), ("status-503", "http.status"), ("status-429", "http.status")],
)
def test_garbage_and_overload_are_named_failures(pytester: pytest.Pytester, fault: str, check: str):
    with FaultServer(fault) as server:
        result, document, _ = run(pytester, server.base_url, "-k", "weather-seed and not strict and blocking")
    failed = {violation["check"] for record in document["tests"] for violation in record["violations"]}
    assert failed == {check}
    assert f"[{check}] MUST" in result.stdout.str()


def test_a_server_that_dies_mid_run_is_one_verdict_and_the_rest_is_not_run(pytester: pytest.Pytester):
    with FaultServer("die-after-3") as server:
        result, document, elapsed = run(pytester, server.base_url, "--concurrency=2")
    assert document["server_death"].startswith("the server died at ")
    # The server answers three completions; how many of them reach the suite before it dies is a race.
    assert re.search(r"after [1-3] good answers to \d+ requests; last error: ", document["server_death"])
    counts = document["totals"]
    assert counts["not run"] > 150 and counts.get("pass", 0) >= 3
    result.stdout.fnmatch_lines(
        ["SERVER DIED: the server died at * UTC, after 3 good answers to * requests; last error: *"]
    )
    # The rest is "not run" at once, not one connection error or timeout (60 s) after another.
    assert result.ret == 1 and elapsed < 60


def test_no_api_key_in_anything_written(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    secret = "sk-test-SECRET-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with FaultServer("args-schema-violation") as server:
        with_credentials = server.base_url.replace("http://", "http://someone:hunter2-password@")
        result, document, _ = run(pytester, with_credentials, "-k", "weather-seed")
    assert document["totals"]["fail"] > 0
    written = [path for path in (pytester.path / "reports").rglob("*") if path.is_file()]
    assert any("reproducers" in str(path) for path in written)
    for leaked in (secret, "hunter2-password"):
        assert [path for path in written if leaked in path.read_text(errors="replace")] == []
        assert leaked not in result.stdout.str() + result.stderr.str()


def test_overloaded_answers_are_retried_only_when_asked_and_every_retry_is_recorded(pytester: pytest.Pytester):
    with FaultServer("status-503") as server:
        _, plain, _ = run(pytester, server.base_url, "-k", "weather-seed and not strict and test_required and blocking")
        assert server.requests and len(server.requests) == 1
        _, retried, _ = run(
            pytester,
            server.base_url,
            "--retry-overloaded=2",
            "-k",
            "weather-seed and not strict and test_required and blocking",
        )
        assert len(server.requests) == 1 + 3
    assert plain["tests"][0]["retries"] == []
    assert [retry["status"] for retry in retried["tests"][0]["retries"]] == [503, 503]
    assert {v["check"] for v in retried["tests"][0]["violations"]} == {"http.status"}


def test_repeat_sends_each_case_with_k_seeds_and_reports_the_pass_rate(pytester: pytest.Pytester):
    with FaultServer() as server:
        _, document, _ = run(pytester, server.base_url, "--repeat=3", "-k", SEED_REQUIRED)
        seeds = sorted(request["seed"] for request in server.requests)
    assert seeds == [1234, 1234, 1235, 1235, 1236, 1236]
    for record in document["tests"]:
        assert (record["verdict"], record["repeat"], record["pass_rate"], record["pass_all"]) == ("pass", 3, 1.0, True)


def test_an_interrupted_run_leaves_a_partial_report_marked_incomplete(pytester: pytest.Pytester):
    pytester.makeconftest(
        "import pytest\n"
        "def pytest_runtest_logreport(report):\n"
        "    if report.when == 'call' and report.nodeid.endswith('test_required[weather-seed-blocking]'):\n"
        "        raise KeyboardInterrupt\n"
    )
    with FaultServer() as server:
        result, document, _ = run(pytester, server.base_url, "-p", "conftest", "-k", "weather-seed and not strict")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert document["complete"] is False
    assert 0 < len(document["tests"]) < 8


def test_a_missing_ca_bundle_is_a_usage_error(pytester: pytest.Pytester):
    result, _, _ = run(pytester, "https://127.0.0.1:1/v1", "--ca-bundle=/nonexistent.pem")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--ca-bundle /nonexistent.pem: no such file*"])
