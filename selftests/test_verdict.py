"""The verdict vocabulary: one order of severity, and K repetitions combined into one verdict."""

from __future__ import annotations

from toolcall_conformance.judging.verdict import (
    FAILED,
    NOT_JUDGED,
    PASSED,
    SEVERITY,
    SKIPPED,
    Judgement,
    Level,
    Verdict,
    Violation,
    combine,
    severity,
    verdict_of,
)


def test_one_order_of_severity_covers_every_verdict_once() -> None:
    assert SEVERITY == (
        Verdict.FAIL,
        Verdict.ERROR,
        Verdict.TIMEOUT,
        Verdict.WARN,
        Verdict.TRUNCATED,
        Verdict.INCONCLUSIVE,
        Verdict.NOT_RUN,
        Verdict.PASS,
    )
    assert set(SEVERITY) == set(Verdict)
    assert severity("not a verdict") == len(SEVERITY)


def test_the_groups_split_the_verdicts_by_pytest_outcome() -> None:
    assert set(Verdict) == FAILED | PASSED | SKIPPED
    assert not FAILED & PASSED and not FAILED & SKIPPED and not PASSED & SKIPPED
    assert NOT_JUDGED < SKIPPED
    assert "not run" in SKIPPED  # the records' strings meet the enum


def test_a_broken_must_fails_a_broken_should_warns_truncation_is_not_judged() -> None:
    must, should = Violation("a.b", Level.MUST, "m"), Violation("c.d", Level.SHOULD, "s")
    assert verdict_of([must, should], truncated=True) is Verdict.FAIL
    assert verdict_of([should], truncated=True) is Verdict.TRUNCATED
    assert verdict_of([should], truncated=False) is Verdict.WARN
    assert verdict_of([], truncated=False) is Verdict.PASS


def test_repetitions_take_the_most_severe_verdict_and_count_the_passes() -> None:
    runs = [Judgement("t", verdict) for verdict in (Verdict.PASS, Verdict.TIMEOUT, Verdict.FAIL, Verdict.WARN)]
    runs[2].violations.append(Violation("args.schema", Level.MUST, "wrong"))
    runs[1].violations.append(Violation("args.schema", Level.MUST, "wrong"))  # the same breach, kept once
    combined = combine(runs)
    assert combined.verdict is Verdict.FAIL
    assert [v.message for v in combined.violations] == ["wrong"]
    assert (combined.extra["passed"], combined.extra["pass_rate"], combined.extra["pass_all"]) == (2, 0.5, False)
    assert "2 of 4 repetitions passed" in combined.note
    assert combine([Judgement("t", Verdict.PASS)]).extra == {}  # one run: no pass rate
