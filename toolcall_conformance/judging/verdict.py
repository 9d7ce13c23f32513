"""What a test can conclude, and how: levels and violations, verdicts, their groups and order, and the mappings
from a broken exchange and from several repetitions to one verdict.

Every module that speaks of verdicts uses these names (the plugin, the bad-request and generated tests,
expectation files, the baseline diff, the reports); none spells a verdict as a string of its own. Kept free of
the checks and of jsonschema, so that `python -m toolcall_conformance compare` starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ..wire.client import SERVER_DIED, TRANSPORT_CONNECT, TRANSPORT_TIMEOUT

if TYPE_CHECKING:
    from ..wire.client import Exchange


class Level(StrEnum):
    """How binding a rule is: a broken MUST fails a test, a broken SHOULD warns."""

    MUST = "MUST"
    SHOULD = "SHOULD"


@dataclass(frozen=True)
class Violation:
    """One broken rule: which check, how binding, a message a person reads, and data a machine reads."""

    check: str
    level: Level
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return f"[{self.check}] {self.level.value}: {self.message}"


class Verdict(StrEnum):
    """What a test concluded; each maps to one pytest outcome (session.ConformanceSession.conclude; docs/reference/verdicts.md)."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    TRUNCATED = "truncated"
    INCONCLUSIVE = "inconclusive"
    TIMEOUT = "timeout"
    ERROR = "error"
    NOT_RUN = "not run"


# Most severe first. A broken rule is proof, an error or a timeout is a test that could not judge, a warning is a
# lenient server, then the tests that judged nothing. It picks the verdict of K repetitions (combine), the verdict
# a report cell of several tests shows, and the order of the report's lists.
SEVERITY: tuple[Verdict, ...] = (
    Verdict.FAIL,
    Verdict.ERROR,
    Verdict.TIMEOUT,
    Verdict.WARN,
    Verdict.TRUNCATED,
    Verdict.INCONCLUSIVE,
    Verdict.NOT_RUN,
    Verdict.PASS,
)
# The test fails (pytest): a MUST rule broken, or no complete exchange to judge.
FAILED = frozenset({Verdict.FAIL, Verdict.ERROR, Verdict.TIMEOUT})
# The test passes (pytest), with a ConformanceWarning for WARN: what --repeat's pass rate counts.
PASSED = frozenset({Verdict.PASS, Verdict.WARN})
# The checks judged an answer; any other verdict's note says why they could not.
JUDGED = frozenset({Verdict.PASS, Verdict.WARN, Verdict.FAIL})
# An answer came, but its rules could not be judged: it ran to max_tokens, or there is nothing to compare.
NOT_JUDGED = frozenset({Verdict.TRUNCATED, Verdict.INCONCLUSIVE})
# The test is skipped (pytest): not judged, or not run at all because the server had died.
SKIPPED = NOT_JUDGED | {Verdict.NOT_RUN}
# What a reader must look at: each gets a reproducer file and an entry in the reports' failure lists.
NEEDS_ATTENTION = FAILED | {Verdict.WARN}


def severity(verdict: str) -> int:
    """The rank of a verdict in SEVERITY (0 is the worst); a string that is no verdict ranks after all of them."""
    try:
        return SEVERITY.index(Verdict(verdict))
    except ValueError:
        return len(SEVERITY)


@dataclass
class Judgement:
    """A test's verdict with everything needed to explain and reproduce it."""

    test_id: str
    verdict: Verdict
    violations: list[Violation] = field(default_factory=list)
    judged: list[str] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    note: str = ""
    reproducer: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_checks(self) -> list[str]:
        return list(dict.fromkeys(v.check for v in self.violations))

    @property
    def must_checks(self) -> list[str]:
        """Checks broken at MUST level: what expectation files record and compare."""
        return list(dict.fromkeys(v.check for v in self.violations if v.level is Level.MUST))


def verdict_of(violations: list[Violation], truncated: bool) -> Verdict:
    """A broken MUST fails; truncation without one is not judged; a broken SHOULD warns."""
    if any(v.level is Level.MUST for v in violations):
        return Verdict.FAIL
    if truncated:
        return Verdict.TRUNCATED
    if violations:
        return Verdict.WARN
    return Verdict.PASS


def truncation_note(evidence: str) -> str:
    """Why an answer that ran to max_tokens is not judged, with what shows it (answer.truncation_evidence)."""
    return f"truncated: cut at the token limit ({evidence})"


def transport_judgement(test_id: str, exchange: Exchange, death: str | None = None) -> Judgement:
    """An exchange that could not be completed: not run once the server is dead, a timeout, or an error.

    death: how the server died (ServerDeath.describe), when the suite noticed; a connection refused after it
    is the death, not an error of this test. A stopped sending process (suite.sender-stopped) is an error.
    """
    error = exchange.transport_error
    assert error is not None
    if error.kind == SERVER_DIED:  # not sent: e.g. a later repetition, after the server's death
        return Judgement(test_id, Verdict.NOT_RUN, note=error.message)
    if error.kind == TRANSPORT_CONNECT and death is not None:
        return Judgement(test_id, Verdict.NOT_RUN, note=f"not run: {death}")
    verdict = Verdict.TIMEOUT if error.kind == TRANSPORT_TIMEOUT else Verdict.ERROR
    return Judgement(test_id, verdict, exchanges=[exchange], note=f"[{error.kind}] {error.message}")


def combine(runs: list[Judgement]) -> Judgement:
    """One judgement for K repetitions: the most severe one, with the pass rate (pass^k: all K passed)."""
    worst = min(runs, key=lambda run: severity(run.verdict))
    for run in runs:
        if run is not worst:
            seen = {(v.check, v.message) for v in worst.violations}
            worst.violations += [v for v in run.violations if (v.check, v.message) not in seen]
    if len(runs) > 1:
        passed = sum(run.verdict in PASSED for run in runs)
        worst.extra.update({"repeat": len(runs), "passed": passed, "pass_rate": round(passed / len(runs), 3)})
        worst.extra["pass_all"] = passed == len(runs)
        summary = f"{passed} of {len(runs)} repetitions passed (seeds {_seeds(runs)})"
        worst.note = f"{worst.note}; {summary}" if worst.note else summary
    return worst


def _seeds(runs: list[Judgement]) -> str:
    seeds = [run.exchanges[0].request.get("seed") for run in runs if run.exchanges]
    return f"{seeds[0]}..{seeds[-1]}" if seeds else "-"
