"""How much of a run was judged: the share of its tests that could not be, against --max-unjudged.

A run whose answers are mostly truncated (cut at the token limit, by the facts) or inconclusive shows them as skips; without
this rule it would exit 0 having judged almost nothing. One pure function counts it from the records, so that the
session's exit status, the terminal, results.json ("judged"), summary.md and report.html all say the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..judging.verdict import NOT_JUDGED, SEVERITY, Verdict
from ..settings import MAX_UNJUDGED
from .results import Document, Record, record_verdict, tests_count, tests_of

# The verdicts of tests that got an answer whose rules could not be judged, most severe first.
UNJUDGED: tuple[str, ...] = tuple(verdict.value for verdict in SEVERITY if verdict in NOT_JUDGED)


@dataclass(frozen=True)
class Judged:
    """tests: every test with a verdict other than "not run" (a dead server fails the run by its own rule);
    by_verdict: how many of them could not be judged, per verdict of UNJUDGED; max_unjudged: the share allowed."""

    tests: int
    by_verdict: Mapping[str, int] = field(default_factory=dict)
    max_unjudged: float = MAX_UNJUDGED

    @property
    def unjudged(self) -> int:
        return sum(self.by_verdict.values())

    @property
    def too_little(self) -> bool:
        """More than max_unjudged of the tests could not be judged (never for a run without tests)."""
        return self.tests > 0 and self.unjudged / self.tests > self.max_unjudged

    def breakdown(self) -> str:
        """'120 truncated, 13 inconclusive' (the verdicts no test got left out)."""
        return ", ".join(f"{count} {verdict}" for verdict, count in self.by_verdict.items() if count)

    def threshold(self) -> str:
        return f"--max-unjudged={self.max_unjudged:g}"

    def line(self) -> str:
        """What the terminal, summary.md and report.html say when too little was judged, or how much was not."""
        could_not = f"{self.unjudged} of {tests_count(self.tests)} could not be judged ({self.breakdown()})"
        if not self.too_little:
            return f"{could_not}, within {self.threshold()}"
        return f"{could_not}, more than {self.threshold()} allows: their skips show nothing, so the run fails"

    def to_json(self) -> dict[str, Any]:
        """results.json's "judged"."""
        return {
            "tests": self.tests,
            "unjudged": self.unjudged,
            "by_verdict": dict(self.by_verdict),
            "max_unjudged": self.max_unjudged,
            "too_little": self.too_little,
        }


def judged(records: Iterable[Record], max_unjudged: float = MAX_UNJUDGED) -> Judged:
    """How many of the records' tests could not be judged, out of all but those not run."""
    verdicts = [record_verdict(record) for record in records]
    attempted = [verdict for verdict in verdicts if verdict != Verdict.NOT_RUN]
    by_verdict = {verdict: attempted.count(verdict) for verdict in UNJUDGED}
    return Judged(len(attempted), by_verdict, max_unjudged)


def judged_of(document: Document) -> Judged:
    """A results document's share, counted from its records against the threshold it recorded (its "judged",
    else its options; the default for a document older than the option)."""
    recorded = document.get("judged") if isinstance(document.get("judged"), dict) else {}
    options = document.get("options") if isinstance(document.get("options"), dict) else {}
    threshold = recorded.get("max_unjudged", options.get("max_unjudged"))
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool):
        threshold = MAX_UNJUDGED
    return judged(tests_of(document), float(threshold))
