"""How a test ends (ending.ending_of): every verdict against every kind of expectation, as plain data."""

from __future__ import annotations

import pytest

from toolcall_conformance.ending import Ending, Outcome, ending_of
from toolcall_conformance.judging.verdict import Judgement, Level, Verdict, Violation
from toolcall_conformance.reporting.expectations import Change, Expected

EXPLAINED = "the failure, explained"


def _judged(verdict: Verdict, *checks: str, note: str = "") -> Judgement:
    violations = [Violation(check, Level.MUST, f"{check} broken") for check in checks]
    return Judgement("test_x[case]", verdict, violations, note=note)


def test_without_a_baseline_a_verdict_is_its_pytest_outcome() -> None:
    assert ending_of(_judged(Verdict.PASS), None, None, EXPLAINED) == Ending(Outcome.PASSED)
    assert ending_of(_judged(Verdict.FAIL, "args.schema"), None, None, EXPLAINED) == Ending(Outcome.FAILED, EXPLAINED)
    for verdict in (Verdict.ERROR, Verdict.TIMEOUT):
        assert ending_of(_judged(verdict), None, None, EXPLAINED).outcome is Outcome.FAILED
    for verdict in (Verdict.TRUNCATED, Verdict.INCONCLUSIVE, Verdict.NOT_RUN):
        ended = ending_of(_judged(verdict, note=f"{verdict.value}: why"), None, None, EXPLAINED)
        assert ended.outcome is Outcome.SKIPPED and "why" in ended.message
    warned = ending_of(_judged(Verdict.WARN), None, None, EXPLAINED)
    assert warned == Ending(Outcome.PASSED, warnings=(EXPLAINED,))


def test_a_generated_test_s_own_failure_is_raised_again() -> None:
    assert ending_of(_judged(Verdict.FAIL, "args.json"), None, None, EXPLAINED, raised=True).outcome is Outcome.RAISED


@pytest.mark.parametrize(
    ("verdict", "change", "expected", "outcome", "words"),
    [
        (Verdict.FAIL, Change.KNOWN_FAILURE, Expected("fail", frozenset({"args.schema"}), "vLLM #1"), Outcome.XFAILED,
         ["known failure (args.schema): vLLM #1"]),
        (Verdict.FAIL, Change.OTHER_EXAMPLE, Expected("fail", frozenset({"args.json"})), Outcome.XFAILED,
         ["another minimal example", "breaks args.schema", "broke args.json"]),
        (Verdict.FAIL, Change.REGRESSION, Expected("pass"), Outcome.FAILED,
         ["REGRESSION: expected pass (no checks broken)", EXPLAINED]),
        (Verdict.FAIL, Change.NEW, None, Outcome.XFAILED, ["new test, not in the baseline: fail (args.schema)"]),
        (Verdict.PASS, Change.AS_EXPECTED, Expected("pass"), Outcome.PASSED, []),
    ],
)  # fmt: skip
def test_a_verdict_meets_its_expectation(
    verdict: Verdict, change: Change, expected: Expected | None, outcome: Outcome, words: list[str]
) -> None:
    checks = ("args.schema",) if verdict is Verdict.FAIL else ()
    ended = ending_of(_judged(verdict, *checks), change, expected, EXPLAINED)
    assert ended.outcome is outcome
    assert all(word in ended.message for word in words), ended.message


def test_a_fix_passes_with_a_warning_and_a_fixed_warn_says_both() -> None:
    expected = Expected("fail", frozenset({"args.schema"}))
    fixed = ending_of(_judged(Verdict.PASS), Change.FIXED, expected, EXPLAINED)
    assert fixed == Ending(Outcome.PASSED, warnings=("FIXED: expected fail (args.schema), now passes",))
    fixed_warn = ending_of(_judged(Verdict.WARN), Change.FIXED, expected, EXPLAINED)
    assert fixed_warn.outcome is Outcome.PASSED and fixed_warn.warnings[1:] == (EXPLAINED,)
    fixed_truncated = ending_of(_judged(Verdict.TRUNCATED, note="truncated"), Change.FIXED, expected, EXPLAINED)
    assert fixed_truncated.outcome is Outcome.SKIPPED and fixed_truncated.warnings[0].startswith("FIXED")


def test_a_test_that_did_not_run_meets_no_expectation() -> None:
    ended = ending_of(
        _judged(Verdict.NOT_RUN, note="not run: the server died"), Change.REGRESSION, Expected("pass"), ""
    )
    assert ended == Ending(Outcome.SKIPPED, "not run: the server died")
