"""The generated tests (tests/test_generated.py) against the fault server, run with pytester in a subprocess.

A server that mishandles one schema keyword fails them, and the failure shrinks to a tool that uses that keyword;
a server that refuses a keyword gets the "refused" verdict; 5xx and truncation get their own outcomes; the correct
server passes; a failure is kept in the example database and replayed first on the next run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from selftests.check_failures import hold_examples
from selftests.fault_server import FaultServer
from toolcall_conformance.generated_run import GeneratedFailure, GeneratedRun
from toolcall_conformance.inputs.strategies import generated_case, keywords_used
from toolcall_conformance.judging.catalogue import checks_of
from toolcall_conformance.judging.generated import BudgetSpent, Example, NotRun, Outcome, classify
from toolcall_conformance.judging.registry import Subject
from toolcall_conformance.judging.verdict import Verdict, transport_judgement
from toolcall_conformance.reporting.expectations import FORMAT as EXPECTATIONS_FORMAT
from toolcall_conformance.settings import OPTIONS as SUITE_OPTIONS
from toolcall_conformance.settings import Settings
from toolcall_conformance.wire.client import (
    SENDER_STOPPED,
    SERVER_DIED,
    TRANSPORT_BROKEN,
    TRANSPORT_CONNECT,
    TRANSPORT_TIMEOUT,
    Exchange,
    TransportError,
)
from toolcall_conformance.wire.stream import parse_sse

REPO = Path(__file__).resolve().parent.parent
SEED = 7
OPTIONS = Settings(**{option.name: option.default for option in SUITE_OPTIONS}).with_target(
    "http://127.0.0.1:1/v1", "m"
)


def run_generated(
    pytester: pytest.Pytester, fault: str, selection: str, *options: str, seed: int | None = SEED
) -> tuple[pytest.RunResult, dict[str, dict[str, Any]]]:
    """Run the generated tests against a fault server; return pytest's result and the tests' records."""
    report_dir = pytester.path / "reports"
    result = _run(pytester, fault, selection, (f"--report-dir={report_dir}", *options), seed)
    document = json.loads((report_dir / "latest" / "results.json").read_text())
    return result, {record["test"]: record for record in document["tests"]}


def _run(
    pytester: pytest.Pytester, fault: str, selection: str, options: tuple[str, ...], seed: int | None
) -> pytest.RunResult:
    seeded = [f"--hypothesis-seed={seed}"] if seed is not None else []
    profile = (
        [] if any(option.startswith("--hypothesis-profile") for option in options) else ["--hypothesis-profile=ci"]
    )
    with FaultServer(fault) as server:
        result = pytester.runpytest_subprocess(
            str(REPO / "tests" / "test_generated.py"),
            f"--rootdir={REPO}",
            f"--endpoint={server.base_url}",
            "-p",
            "no:cacheprovider",
            "-k",
            selection,
            *profile,
            *seeded,
            *options,
        )
    return result


def minimal_tools(pytester_path: Path, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The minimal tool set of a failed generated test, from its reproducer file."""
    reproducer = json.loads((pytester_path / "reports" / "latest" / record["reproducer"]).read_text())
    return reproducer["tools"]


def test_correct_server_passes(pytester: pytest.Pytester) -> None:
    result, records = run_generated(
        pytester, "none", "blocking-required or stream-named-strict", "--hypothesis-profile=ci"
    )
    assert result.ret == 0, result.stdout.str()
    assert {record["verdict"] for record in records.values()} == {"pass"}
    assert len(records) == 3
    assert all(record["generated"]["examples"] >= 20 for record in records.values())


@pytest.mark.parametrize(
    ("fault", "keyword", "selection"),
    [
        ("ignore-maximum", "maximum", "blocking-required-strict"),
        ("ignore-ref", "$ref", "stream-named-plain"),
        ("ignore-enum", "enum", "stream-required-plain"),
    ],
)
def test_mishandled_keyword_shrinks_to_a_tool_using_it(
    pytester: pytest.Pytester, fault: str, keyword: str, selection: str
) -> None:
    result, records = run_generated(pytester, fault, selection)
    output = result.stdout.str()
    assert result.ret == 1, output
    (record,) = records.values()
    assert record["verdict"] == "fail"
    assert {violation["check"] for violation in record["violations"]} == {"args.schema"}
    tools = minimal_tools(pytester.path, record)
    assert keyword in keywords_used(tools)
    assert len(tools) <= 2 and len(json.dumps(tools)) < 400, tools  # shrunk: small, not whatever came first
    assert "minimal tool set:" in output and "request JSON:" in output and "curl -sS" in output
    assert "--hypothesis-profile=ci (derandomized" in output
    assert json.dumps(tools[0]["function"]["name"], ensure_ascii=False) in output


# The run that proves generated.refused: its fault and selection (selftests/test_check_failures.py reads it).
REFUSED = ("refuse-pattern", "blocking-required-plain")


def test_refused_keyword_is_its_own_verdict(pytester: pytest.Pytester) -> None:
    result, records = run_generated(pytester, *REFUSED)
    assert result.ret == 0, result.stdout.str()
    (record,) = records.values()
    assert record["verdict"] == "warn" and record["outcome"] == "refused"
    assert [violation["check"] for violation in record["violations"]] == ["generated.refused"]
    assert record["checks"]["generated.refused"] == "warn"
    assert record["generated"]["outcomes"]["refused"] >= 1
    assert set(record["generated"]["refused_keywords"]) == {"pattern"}
    assert "ConformanceWarning" in result.stdout.str() and "keywords: pattern" in result.stdout.str()
    hold_examples("test_refused_keyword_is_its_own_verdict", REFUSED[0], list(records.values()))


def test_server_error_is_a_failure_of_its_own_kind_and_the_seed_replays_it(pytester: pytest.Pytester) -> None:
    result, records = run_generated(pytester, "http-500", "stream-required-strict", "--hypothesis-profile=default")
    assert result.ret == 1
    (record,) = records.values()
    assert record["outcome"] == "server-error" and record["verdict"] == "fail"
    assert record["generated"]["seed"] == SEED
    output = result.stdout.str()
    assert "generated example: server-error" in output
    assert f"--hypothesis-profile=default --hypothesis-seed={SEED}" in output


def test_every_check_of_generated_tests_is_proven_by_a_fault() -> None:
    proven = {"generated.refused"}  # test_refused_keyword_is_its_own_verdict
    assert {registered.id for registered in checks_of(Subject.GENERATED)} == proven


def test_a_server_that_dies_leaves_the_generated_test_not_run(pytester: pytest.Pytester) -> None:
    """As for curated tests: once the server is dead, what was not sent is not run, not a failure to shrink."""
    result, records = run_generated(pytester, "die-after-3", "blocking-required-plain")
    (record,) = records.values()
    assert record["verdict"] == "not run", record
    assert "server died" in record["note"] and "judged before" in record["note"]
    result.assert_outcomes(skipped=1)
    assert result.ret == 1  # a server that died mid-run fails the run, as it does for curated tests


def test_a_generated_test_meets_its_baseline_like_any_test(pytester: pytest.Pytester) -> None:
    """Its one judgement goes through the plugin's conclusion: a failure the baseline lists is a known failure."""
    first, _ = run_generated(pytester, "ignore-maximum", "blocking-required-strict")
    assert first.ret == 1
    baseline = pytester.path / "baseline.json"
    baseline.write_text((pytester.path / "reports" / "latest" / "results.json").read_text())
    second, records = run_generated(pytester, "ignore-maximum", "blocking-required-strict", f"--baseline={baseline}")
    (record,) = records.values()
    assert record["verdict"] == "fail" and record["expectation"] == "known failure"
    second.assert_outcomes(xfailed=1)
    assert second.ret == 0, second.stdout.str()


def test_a_generated_test_failing_with_other_checks_is_another_example_not_a_regression(
    pytester: pytest.Pytester,
) -> None:
    """Its checks are the minimal example's: other ones under the same fail verdict are a known failure shown as such.

    A curated test breaking a check its baseline does not list is a regression (test_expectations.py)."""
    first, records = run_generated(pytester, "ignore-maximum", "blocking-required-strict")
    assert first.ret == 1
    (test,) = records
    assert "stream.finish-once" not in records[test]["checks"]
    baseline = pytester.path / "baseline.json"
    expected = {test: {"verdict": "fail", "checks": ["stream.finish-once"]}}
    baseline.write_text(json.dumps({"format": EXPECTATIONS_FORMAT, "tests": expected}))
    second, records = run_generated(
        pytester, "ignore-maximum", "blocking-required-strict", f"--baseline={baseline}", "-rx"
    )
    assert records[test]["verdict"] == "fail" and records[test]["expectation"] == "other example"
    second.assert_outcomes(xfailed=1)
    assert "another minimal example" in second.stdout.str() and "stream.finish-once" in second.stdout.str()
    assert second.ret == 0, second.stdout.str()
    baseline.write_text(json.dumps({"format": EXPECTATIONS_FORMAT, "tests": {test: {"verdict": "pass"}}}))
    third, records = run_generated(pytester, "ignore-maximum", "blocking-required-strict", f"--baseline={baseline}")
    assert records[test]["expectation"] == "regression"  # a pass that now fails stays a regression
    assert third.ret == 1


def test_truncation_is_not_a_failure(pytester: pytest.Pytester) -> None:
    result, records = run_generated(pytester, "always-truncate", "blocking-named-plain")
    assert result.ret == 0, result.stdout.str()
    (record,) = records.values()
    assert record["verdict"] == "pass"
    assert set(record["generated"]["outcomes"]) == {"truncated"}


def test_a_failure_replays_first_on_the_next_run(pytester: pytest.Pytester) -> None:
    first, _ = run_generated(pytester, "ignore-maximum", "blocking-required-strict", seed=None)
    assert first.ret == 1
    assert any((pytester.path / "reports" / "hypothesis").rglob("*")), "nothing saved in the example database"
    second, records = run_generated(pytester, "ignore-maximum", "blocking-required-strict", seed=None)
    assert second.ret == 1
    (record,) = records.values()
    log = json.loads(next((pytester.path / "reports" / "latest" / "generated").glob("*.json")).read_text())
    assert log["examples"][0]["outcome"] == "fail", "the saved failure was not tried first"
    assert log["seed"] == record["generated"]["seed"]


# --- classification of single answers, without a server ------------------------------------------------------

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "f",
            "parameters": {"type": "object", "properties": {"v": {"type": "array", "minItems": 1}}},
        },
    }
]


def exchange_of(mode: str, status: int | None, raw: bytes, error: TransportError | None = None) -> Exchange:
    case = generated_case(TOOLS, mode, "required")  # type: ignore[arg-type]
    exchange = Exchange("http://127.0.0.1:1/v1/chat/completions", case.body(OPTIONS), mode == "stream", status)
    exchange.raw, exchange.transport_error = raw, error
    exchange.headers = {"content-type": "text/event-stream" if mode == "stream" else "application/json"}
    if mode == "stream" and status == 200:
        exchange.events = parse_sse(raw)
    elif status is not None:
        exchange.json_body = json.loads(raw)
    return exchange


def outcome_of(exchange: Exchange) -> Example:
    case = generated_case(TOOLS, "stream" if exchange.stream else "blocking", "required")
    return classify("t", case, exchange)


ERROR_BODY = b'{"error": {"message": "Invalid grammar specification: \'triggers\'", "type": "BadRequestError"}}'


def test_a_4xx_about_the_grammar_is_refused_and_names_no_keyword_it_cannot_see() -> None:
    example = outcome_of(exchange_of("blocking", 400, ERROR_BODY))
    assert example.outcome is Outcome.REFUSED
    assert example.refused == ["minItems", "properties", "type"]  # the message names none: all the set uses


def test_a_4xx_naming_a_keyword_is_refused_for_that_keyword() -> None:
    body = b'{"error": {"message": "unsupported schema feature: minItems"}}'
    assert outcome_of(exchange_of("blocking", 400, body)).refused == ["minItems"]


def test_other_4xx_and_5xx_and_hangs_are_failures_of_their_kind() -> None:
    other = b'{"error": {"message": "tool_choice required requires --tool-call-parser to be set"}}'
    assert outcome_of(exchange_of("blocking", 400, other)).outcome is Outcome.FAIL
    assert outcome_of(exchange_of("blocking", 503, b'{"error": {"message": "busy"}}')).outcome is Outcome.SERVER_ERROR
    hang = TransportError(TRANSPORT_TIMEOUT, "no complete response within 1 s")
    assert outcome_of(exchange_of("stream", None, b"", hang)).outcome is Outcome.TIMEOUT


@pytest.mark.parametrize(
    ("kind", "outcome", "verdict"),
    [
        (TRANSPORT_TIMEOUT, Outcome.TIMEOUT, Verdict.TIMEOUT),
        (TRANSPORT_BROKEN, Outcome.SERVER_ERROR, Verdict.ERROR),
        (TRANSPORT_CONNECT, Outcome.ERROR, Verdict.ERROR),
        (SENDER_STOPPED, Outcome.ERROR, Verdict.ERROR),
    ],
)
def test_a_broken_exchange_gets_the_verdict_a_curated_test_gets(kind: str, outcome: Outcome, verdict: Verdict) -> None:
    exchange = exchange_of("blocking", None, b"", TransportError(kind, "what broke"))
    example = outcome_of(exchange)
    assert (example.outcome, example.judgement.verdict) == (outcome, verdict)
    assert example.judgement.verdict is transport_judgement("t", exchange).verdict
    assert example.failed


def test_an_exchange_the_dead_server_never_got_is_not_run() -> None:
    never_sent = exchange_of("blocking", None, b"", TransportError(SERVER_DIED, "not sent: the server died"))
    with pytest.raises(NotRun) as stopped:
        outcome_of(never_sent)
    assert stopped.value.judgement.verdict is Verdict.NOT_RUN
    refused = exchange_of("blocking", None, b"", TransportError(TRANSPORT_CONNECT, "connection refused"))
    case = generated_case(TOOLS, "blocking", "required")
    with pytest.raises(NotRun):
        classify("t", case, refused, death="the server died at 01:02:03 UTC")


def test_a_refusal_inside_a_200_stream_fails_and_is_noted() -> None:
    example = outcome_of(exchange_of("stream", 200, b"data: " + ERROR_BODY + b"\n\ndata: [DONE]\n\n"))
    assert example.outcome is Outcome.FAIL
    assert example.refused and "error event" in example.judgement.note


class _Recorder:
    """The part of report.RunRecorder a GeneratedRun writes through, on a temporary run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def scrub(self, text: str) -> str:
        return text

    def write_json(self, relative: str, document: Any, indent: int | None = 2) -> Path:
        path = self.run_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=indent))
        return path


def test_an_example_that_breaks_the_server_is_its_tests_verdict_not_a_not_run(tmp_path: Path) -> None:
    # The first example breaks the connection; by the next one the server is dead, and Hypothesis stops without
    # shrinking (a skip). The test must still fail on the example that broke it, with a reproducer.
    death = {"at": None}
    answers = iter(
        [
            exchange_of("blocking", None, b"", TransportError(TRANSPORT_BROKEN, "connection broke mid-body")),
            exchange_of("blocking", None, b"", TransportError(SERVER_DIED, "not sent: the server died")),
        ]
    )

    def send(body: dict[str, Any]) -> Exchange:
        answer = next(answers)
        death["at"] = "the server died at 01:02:03 UTC"
        return answer

    run = GeneratedRun("test_generated[x]", send, OPTIONS, _Recorder(tmp_path), death=lambda: death["at"])
    with pytest.raises(GeneratedFailure):
        run.check(TOOLS, "blocking", "required")
    with pytest.raises(NotRun) as stopped:
        run.check(TOOLS, "blocking", "required")
    judgement = run.finish(stopped=stopped.value.judgement)
    assert judgement.verdict is Verdict.ERROR
    assert judgement.extra["outcome"] == Outcome.SERVER_ERROR.value
    assert "not shrunk" in judgement.note and "the server died" in judgement.note
    assert judgement.reproducer and json.loads((tmp_path / "reproducers" / Path(judgement.reproducer).name).read_text())


def test_a_death_before_any_failing_example_leaves_the_test_not_run(tmp_path: Path) -> None:
    never_sent = exchange_of("blocking", None, b"", TransportError(SERVER_DIED, "not sent: the server died"))
    run = GeneratedRun("test_generated[x]", lambda body: never_sent, OPTIONS, _Recorder(tmp_path))
    with pytest.raises(NotRun) as stopped:
        run.check(TOOLS, "blocking", "required")
    assert run.finish(stopped=stopped.value.judgement).verdict is Verdict.NOT_RUN


def test_a_failure_that_does_not_come_back_every_time_stops_shrinking_at_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every other request fails (a 500), whatever the example: Hypothesis would shrink it for five minutes."""
    import hypothesis
    from hypothesis import strategies as st

    from toolcall_conformance import generated_run

    monkeypatch.setattr(generated_run, "example_budget", lambda: 30)
    sent = {"count": 0}
    refused = exchange_of("blocking", 400, b'{"error": {"message": "no"}}')
    broken = exchange_of("blocking", 500, b'{"error": {"message": "boom"}}')

    def send(body: dict[str, Any]) -> Exchange:
        sent["count"] += 1
        return broken if sent["count"] % 2 else refused

    run = GeneratedRun("test_generated[x]", send, OPTIONS, _Recorder(tmp_path))

    @hypothesis.settings(max_examples=20, database=None, deadline=None, derandomize=True)
    @hypothesis.given(st.integers(min_value=0, max_value=10**6))
    def flaky(number: int) -> None:
        run.check(TOOLS, "blocking", "required")

    with pytest.raises(BudgetSpent) as stopped:  # a skip: Hypothesis stops at once, with no flaky replay
        flaky()
    judgement = run.finish(spent=stopped.value)
    assert sent["count"] == 30  # the budget, and not one request more
    assert judgement.verdict is Verdict.FAIL and [v.check for v in judgement.violations] == ["http.status"]
    assert "shrinking stopped at the test's budget of 30 examples" in judgement.note
    assert "may not be minimal" in judgement.note and judgement.reproducer
