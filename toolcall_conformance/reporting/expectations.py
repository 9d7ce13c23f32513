"""Expectation files: for one server configuration, the verdict each test gets today and why.

A run compared against one: a known failure is expected (pytest xfail), a failure with a check
the file does not list, or of another kind (an error or timeout where a wrong answer was expected), is a
regression (pytest fail), a pass where a failure was expected is a fix (reported, so the file gets updated).
A generated test is the exception: its checks are those of the first failing example Hypothesis reached and
shrank, so failing as expected with other checks is another example of a known failure, not a regression.
compare.py turns a whole run into a diff; --fail-on decides which changes fail the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..jsontext import cut
from ..judging.verdict import FAILED, NOT_JUDGED, PASSED, Level, Verdict

FORMAT = "toolcall-conformance/expectations/1"
REASON_CHARS = 200
# Options that say where and how a run reported, not what it asked the server.
RUN_ONLY_OPTIONS = ("endpoint", "report_dir", "progress_every", "baseline", "fail_on", "max_unjudged")
# What identifies a target; ports, paths and timings differ from run to run and stay out.
STABLE_TARGET_FACTS = ("embedded", "flavour", "tool_call_parser", "strict_level", "model", "server_version")


@dataclass(frozen=True)
class Expected:
    """What one test is expected to conclude."""

    verdict: str
    checks: frozenset[str] = frozenset()
    reason: str = ""


class Change(StrEnum):
    """How a test's verdict compares with its expectation."""

    AS_EXPECTED = "as expected"
    KNOWN_FAILURE = "known failure"
    REGRESSION = "regression"
    FIXED = "fixed"
    NEW = "new test"
    CHANGED = "changed"
    OTHER_EXAMPLE = "other example"  # a generated test fails as expected; its minimal example breaks other checks


def load(path: Path) -> dict[str, Expected]:
    """The expectations of a file written by `python -m toolcall_conformance expectations`."""
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    if document.get("format") != FORMAT:
        raise ValueError(f"{path}: not an expectation file (format {document.get('format')!r}, wanted {FORMAT!r})")
    return parse(document["tests"])


def parse(tests: dict[str, Any]) -> dict[str, Expected]:
    """The expectations of a document's "tests" mapping."""
    return {
        test: Expected(entry["verdict"], frozenset(entry.get("checks", ())), entry.get("reason", ""))
        for test, entry in tests.items()
    }


def compare(expected: Expected | None, verdict: str, checks: set[str], *, generated: bool = False) -> Change:
    """Classify one test's outcome against its expectation.

    generated: the test is a Hypothesis one, whose checks are its minimal failing example's. Which failing
    example a search reaches first, and where shrinking goes from it, depends on every answer before it, so
    with two defects in a server either can be the one reported: other checks under the same failing verdict
    are not evidence of a change in the server."""
    if expected is None:
        return Change.NEW
    failed = verdict in FAILED
    if failed and expected.verdict in FAILED:
        if verdict != expected.verdict:
            return Change.REGRESSION  # it fails another way: an error or timeout is no known wrong answer
        if generated:
            return Change.KNOWN_FAILURE if checks == expected.checks else Change.OTHER_EXAMPLE
        return Change.KNOWN_FAILURE if checks <= expected.checks else Change.REGRESSION
    if failed:
        return Change.REGRESSION
    if verdict == Verdict.TRUNCATED and expected.verdict not in NOT_JUDGED:
        return Change.REGRESSION  # it ran to max_tokens: nothing of it is judged any more
    if verdict == expected.verdict:
        return Change.AS_EXPECTED
    if expected.verdict in FAILED and verdict in PASSED:
        return Change.FIXED
    return Change.CHANGED


def from_results(results: dict[str, Any], reasons: dict[str, str] | None = None) -> dict[str, Any]:
    """An expectation document from a results.json document; reasons keyed by test id override generated ones."""
    reasons = reasons or {}
    tests = {}
    for record in results["tests"]:
        checks = sorted({violation["check"] for violation in record["violations"] if violation["level"] == Level.MUST})
        entry: dict[str, Any] = {"verdict": record["verdict"]}
        if checks:
            entry["checks"] = checks
        reason = reasons.get(record["test"]) or _generated_reason(record)
        if reason:
            entry["reason"] = reason
        tests[record["test"]] = entry
    return {
        "format": FORMAT,
        "target": {k: v for k, v in results.get("target", {}).items() if k in STABLE_TARGET_FACTS},
        "options": {k: v for k, v in results.get("options", {}).items() if k not in RUN_ONLY_OPTIONS},
        "generated_from_run_started": results.get("started"),
        "tests": dict(sorted(tests.items())),
    }


def _generated_reason(record: dict[str, Any]) -> str:
    if record["verdict"] in NOT_JUDGED:
        return record.get("note", "")
    messages = [violation["message"] for violation in record["violations"] if violation["level"] == Level.MUST]
    return cut(messages[0], REASON_CHARS) if messages else ""


def main(argv: list[str] | None = None) -> int:
    """Write an expectation file from a run: python -m toolcall_conformance expectations RESULTS OUT."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m toolcall_conformance expectations", description=main.__doc__)
    parser.add_argument("results", type=Path, help="a run's results.json (e.g. reports/latest/results.json)")
    parser.add_argument("output", type=Path, help="the expectation file to write")
    parser.add_argument("--keep-reasons-from", type=Path, help="an older expectation file whose reasons are kept")
    args = parser.parse_args(argv)
    reasons, about = {}, None
    if args.keep_reasons_from:
        old = json.loads(args.keep_reasons_from.read_text(encoding="utf-8"))
        reasons = {test: entry.get("reason", "") for test, entry in old.get("tests", old).items()} if old else {}
        about = old.get("about")
    document = from_results(json.loads(args.results.read_text(encoding="utf-8")), reasons)
    if about:
        document = {"format": document["format"], "about": about, **document}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    counts: dict[str, int] = {}
    for entry in document["tests"].values():
        counts[entry["verdict"]] = counts.get(entry["verdict"], 0) + 1
    print(f"wrote {args.output}: {len(document['tests'])} tests, {counts}")
    return 0
