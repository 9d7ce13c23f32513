"""From violations to one verdict per test."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .checks import Level, Violation
from .client import SERVER_DIED, TRANSPORT_TIMEOUT, Exchange


class Verdict(StrEnum):
    """What a test concluded; each maps to one pytest outcome (see plugin.enforce)."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    TRUNCATED = "truncated"
    INCONCLUSIVE = "inconclusive"
    TIMEOUT = "timeout"
    ERROR = "error"
    NOT_RUN = "not run"


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
    """A broken MUST fails; truncation without one is inconclusive; a broken SHOULD warns."""
    if any(v.level is Level.MUST for v in violations):
        return Verdict.FAIL
    if truncated:
        return Verdict.TRUNCATED
    if violations:
        return Verdict.WARN
    return Verdict.PASS


def transport_judgement(test_id: str, exchange: Exchange) -> Judgement:
    """An exchange that could not be completed: a timeout, an error naming what broke, or not run (server dead)."""
    error = exchange.transport_error
    assert error is not None
    if error.kind == SERVER_DIED:  # e.g. a later repetition, after the server's death
        return Judgement(test_id, Verdict.NOT_RUN, note=error.message)
    verdict = Verdict.TIMEOUT if error.kind == TRANSPORT_TIMEOUT else Verdict.ERROR
    return Judgement(test_id, verdict, exchanges=[exchange], note=f"[{error.kind}] {error.message}")
