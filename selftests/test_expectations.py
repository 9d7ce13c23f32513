"""Expectation files: known failures are expected, regressions fail the run, fixes are reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selftests.fault_server import FaultServer
from selftests.suite_run import REPO, run_suite
from toolcall_conformance.inputs.bad_requests import bad_requests
from toolcall_conformance.inputs.cases import MODES, equivalence_pairs, named_cases, parallel_off_cases, required_cases
from toolcall_conformance.reporting.expectations import FORMAT, Change, Expected, compare, from_results, load

SEED_REQUIRED = "weather-seed and not strict and test_required"


@pytest.mark.parametrize(
    ("expected", "verdict", "checks", "change"),
    [
        (Expected("pass"), "pass", set(), Change.AS_EXPECTED),
        (Expected("pass"), "fail", {"args.schema"}, Change.REGRESSION),
        (Expected("fail", frozenset({"args.schema", "args.json"})), "fail", {"args.schema"}, Change.KNOWN_FAILURE),
        (Expected("fail", frozenset({"args.schema"})), "fail", {"args.schema", "call.id"}, Change.REGRESSION),
        (Expected("fail", frozenset({"args.schema"})), "pass", set(), Change.FIXED),
        (Expected("pass"), "truncated", set(), Change.REGRESSION),
        (Expected("truncated"), "pass", set(), Change.CHANGED),
        (Expected("pass"), "error", set(), Change.REGRESSION),
        (None, "fail", {"args.schema"}, Change.NEW),
    ],
)
def test_compare(expected, verdict, checks, change):
    assert compare(expected, verdict, checks) is change


SCHEMA_FAILURE = Expected("fail", frozenset({"args.schema", "args.json"}))


@pytest.mark.parametrize(
    ("expected", "verdict", "checks", "change"),
    [
        (SCHEMA_FAILURE, "fail", {"args.schema", "args.json"}, Change.KNOWN_FAILURE),
        (SCHEMA_FAILURE, "fail", {"args.schema"}, Change.OTHER_EXAMPLE),
        (SCHEMA_FAILURE, "fail", {"stream.finish-once"}, Change.OTHER_EXAMPLE),
        (SCHEMA_FAILURE, "error", set(), Change.REGRESSION),
        (SCHEMA_FAILURE, "pass", set(), Change.FIXED),
        (Expected("pass"), "fail", {"args.schema"}, Change.REGRESSION),
        (Expected("pass"), "pass", set(), Change.AS_EXPECTED),
    ],
)
def test_compare_a_generated_test(expected, verdict, checks, change):
    """Its checks are its minimal example's: the same failing verdict with other checks is another example."""
    assert compare(expected, verdict, checks, generated=True) is change


def test_written_file_loads_back_with_must_checks_only(tmp_path: Path):
    results = {
        "target": {"model": "m", "endpoint": "http://h:1/v1", "server_version": "9"},
        "tests": [
            {
                "test": "t1",
                "verdict": "fail",
                "violations": [{"check": "args.schema", "level": "MUST", "message": "x"}],
            },
            {
                "test": "t2",
                "verdict": "warn",
                "violations": [{"check": "stream.chunk-id", "level": "SHOULD", "message": "y"}],
            },
        ],
    }
    document = from_results(results, {"t1": "known upstream"})
    assert document["target"] == {"model": "m", "server_version": "9"}
    path = tmp_path / "e.json"
    path.write_text(json.dumps(document))
    assert load(path) == {"t1": Expected("fail", frozenset({"args.schema"}), "known upstream"), "t2": Expected("warn")}


def _run(pytester: pytest.Pytester, fault: str, baseline: Path, *args: str) -> tuple[pytest.RunResult, dict]:
    with FaultServer(fault) as server:
        return run_suite(pytester, server.base_url, f"--baseline={baseline}", "-k", SEED_REQUIRED, *args)


def _expectations(tmp_path: Path, checks: list[str]) -> Path:
    entry = {"verdict": "fail", "checks": checks, "reason": "known"} if checks else {"verdict": "pass"}
    tests = {f"test_required[weather-seed-{mode}]": entry for mode in ("blocking", "stream")}
    path = tmp_path / "expected.json"
    path.write_text(json.dumps({"format": "toolcall-conformance/expectations/1", "tests": tests}))
    return path


def test_known_failures_are_xfail_and_the_run_passes(pytester: pytest.Pytester, tmp_path: Path):
    result, document = _run(pytester, "args-schema-violation", _expectations(tmp_path, ["args.schema"]))
    result.assert_outcomes(xfailed=2)
    assert result.ret == 0
    assert {record["expectation"] for record in document["tests"]} == {"known failure"}


def test_a_new_broken_check_is_a_regression(pytester: pytest.Pytester, tmp_path: Path):
    result, _ = _run(pytester, "args-not-object", _expectations(tmp_path, ["args.schema"]))
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["*REGRESSION: expected fail (args.schema)*", "*REGRESSIONS (2 tests)*", "*args.json (2)*"]
    )
    assert result.ret == 1


def test_a_fix_passes_and_is_reported(pytester: pytest.Pytester, tmp_path: Path):
    result, _ = _run(pytester, "none", _expectations(tmp_path, ["args.schema"]))
    result.assert_outcomes(passed=2, warnings=2)
    result.stdout.fnmatch_lines(["*FIXED: expected fail (args.schema), now passes*", "*FIXES (2 tests)*"])
    assert result.ret == 0


def test_fail_on_any_fails_the_run_for_a_fix(pytester: pytest.Pytester, tmp_path: Path):
    result, document = _run(pytester, "none", _expectations(tmp_path, ["args.schema"]), "--fail-on=any")
    result.assert_outcomes(passed=2, warnings=2)
    assert result.ret == 1
    assert [entry["test"] for entry in document["baseline"]["fixes"]] == [
        "test_required[weather-seed-blocking]",
        "test_required[weather-seed-stream]",
    ]


def test_a_new_failing_test_is_listed_not_a_regression(pytester: pytest.Pytester, tmp_path: Path):
    baseline = tmp_path / "expected.json"
    entry = {"verdict": "pass"}
    baseline.write_text(json.dumps({"format": FORMAT, "tests": {"test_required[weather-seed-blocking]": entry}}))
    result, document = _run(pytester, "args-not-object", baseline)
    result.assert_outcomes(failed=1, xfailed=1)
    assert result.ret == 1  # the blocking test regressed
    assert [entry["test"] for entry in document["baseline"]["new"]] == ["test_required[weather-seed-stream]"]
    assert document["tests"][1]["expectation"] == "new test"


def test_an_earlier_results_json_is_a_baseline_and_deselected_tests_are_not_removed(
    pytester: pytest.Pytester, tmp_path: Path
):
    with FaultServer("none") as server:
        run_suite(pytester, server.base_url, "-k", "weather-seed and test_required")
        earlier = tmp_path / "earlier-results.json"
        earlier.write_text((pytester.path / "reports" / "latest" / "results.json").read_text())
    result, document = _run(pytester, "args-schema-violation", earlier)
    result.assert_outcomes(failed=2)
    diff = document["baseline"]
    assert {entry["test"] for entry in diff["regressions"]} == {
        "test_required[weather-seed-blocking]",
        "test_required[weather-seed-stream]",
    }
    assert diff["removed"] == []
    assert {entry["test"] for entry in diff["not_run"]} == {
        "test_required[weather-seed-strict-blocking]",
        "test_required[weather-seed-strict-stream]",
    }


def test_a_bad_request_that_was_accepted_and_now_crashes_the_server_is_a_regression(
    pytester: pytest.Pytester, tmp_path: Path
):
    baseline = tmp_path / "accepted.json"
    accepted = {"verdict": "fail", "checks": ["reject.status-4xx"], "reason": "accepted"}
    baseline.write_text(json.dumps({"format": FORMAT, "tests": {"test_bad_requests[tools-empty]": accepted}}))
    with FaultServer("bad-request-500") as server:
        result, document = run_suite(pytester, server.base_url, f"--baseline={baseline}", "-k", "tools-empty")
    result.assert_outcomes(failed=1)
    assert result.ret == 1
    assert [entry["checks"] for entry in document["baseline"]["regressions"]] == [["reject.no-server-error"]]


def test_the_summary_goes_to_the_ci_job_page(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    page = pytester.path / "step-summary.md"
    page.write_text("earlier steps\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(page))
    with FaultServer("none") as server:
        result, document = run_suite(pytester, server.base_url, "-k", SEED_REQUIRED)
    assert result.ret == 0 and document["exit_status"] == 0
    text = page.read_text()
    assert text.startswith("earlier steps\n### ✅ Tool-call conformance: 2 tests")
    assert text.count("Tool-call conformance") == 1


def test_committed_expectation_file_covers_every_test():
    path = REPO / "reports" / "expectations" / "vllm-0.32.0-cpu-tiny-shaped-hermes.json"
    ids = (
        {f"test_required[{c.id}]" for c in required_cases()}
        | {f"test_named[{c.id}]" for c in named_cases()}
        | {f"test_parallel_off[{c.id}]" for c in parallel_off_cases()}
        | {f"test_stream_matches_blocking[{p.id}]" for p in equivalence_pairs()}
        | {f"test_bad_requests[{case.id}]" for case in bad_requests()}
        | {  # the generated tests too: the ci profile sends the same examples every run
            f"test_generated[{mode}-{choice}-{strictness}]"
            for mode in ("blocking", "stream")
            for choice in ("required", "named")
            for strictness in ("strict", "plain")
        }
        | {  # the seed as vLLM's example sends it, through openai.OpenAI and openai.AsyncOpenAI
            f"test_seed_through_the_{client}_client[{mode}]" for client in ("openai", "async_openai") for mode in MODES
        }
    )
    expected = load(path)
    assert set(expected) == ids
    assert all(entry.reason for entry in expected.values() if entry.verdict == "fail")


def test_fail_on_without_a_baseline_is_a_usage_error(pytester: pytest.Pytester):
    result, _ = run_suite(pytester, "http://127.0.0.1:1/v1", "--fail-on=any")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--fail-on decides what fails a run compared with a baseline: give --baseline too*"])
