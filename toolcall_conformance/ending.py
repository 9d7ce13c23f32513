"""How a test ends in pytest's terms, from its judgement and what the baseline expected: a pure function.

The session (session.py) records the judgement and then carries the ending out (skip, xfail, fail, a warning);
nothing here touches pytest, so every way a verdict meets an expectation can be tested as plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .judging.verdict import FAILED, NOT_JUDGED, Judgement, Verdict
from .reporting.expectations import Change, Expected
from .reporting.explain import one_line


class Outcome(StrEnum):
    """What pytest is told."""

    PASSED = "passed"
    FAILED = "failed"  # pytest.fail with the message
    RAISED = "raised"  # the test's own failure (a generated test's minimal example) is raised again
    XFAILED = "xfailed"  # a known failure
    SKIPPED = "skipped"  # not run, or nothing could be judged


@dataclass(frozen=True)
class Ending:
    """A test's pytest outcome and its message; warnings: a fix, a SHOULD broken, each said before it ends."""

    outcome: Outcome
    message: str = ""
    warnings: tuple[str, ...] = ()


def ending_of(
    judgement: Judgement, change: Change | None, expected: Expected | None, explained: str, raised: bool = False
) -> Ending:
    """The ending of a judged test.

    change and expected: the comparison with the baseline (None without one); explained: the failure's text;
    raised: the test raised its own failure (a generated test), which a failing verdict raises again."""
    if judgement.verdict is Verdict.NOT_RUN:  # nothing to meet an expectation with: compare.py lists it as not run
        return Ending(Outcome.SKIPPED, one_line(judgement))
    if change is Change.KNOWN_FAILURE:
        reason = expected.reason if expected is not None else ""
        return Ending(Outcome.XFAILED, f"known failure ({', '.join(judgement.must_checks)}): {reason}")
    if change is Change.OTHER_EXAMPLE and expected is not None:
        was = ", ".join(sorted(expected.checks)) or "no checks"
        now = ", ".join(judgement.must_checks) or "no checks"
        return Ending(
            Outcome.XFAILED,
            f"known failure, another minimal example: it breaks {now} where the baseline's broke {was} "
            "(Hypothesis reached another failing example first)",
        )
    if change is Change.REGRESSION and expected is not None:
        was = f"{expected.verdict} ({', '.join(sorted(expected.checks)) or 'no checks broken'})"
        return Ending(Outcome.FAILED, f"REGRESSION: expected {was}\n{explained}")
    if change is Change.NEW and judgement.verdict in FAILED:
        # Not a regression: the baseline never ran it. It is listed as new; --fail-on=any fails the run for it.
        broken = ", ".join(judgement.failed_checks) or judgement.note
        return Ending(Outcome.XFAILED, f"new test, not in the baseline: {judgement.verdict.value} ({broken})")
    said: tuple[str, ...] = ()
    if change is Change.FIXED and expected is not None:
        said = (f"FIXED: expected {expected.verdict} ({', '.join(sorted(expected.checks))}), now passes",)
    if judgement.verdict in FAILED:
        return Ending(Outcome.RAISED, warnings=said) if raised else Ending(Outcome.FAILED, explained, said)
    if judgement.verdict in NOT_JUDGED:
        return Ending(Outcome.SKIPPED, one_line(judgement), said)
    if judgement.verdict is Verdict.WARN:
        said += (explained,)
    return Ending(Outcome.PASSED, warnings=said)
