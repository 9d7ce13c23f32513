"""A run compared with an earlier one: what regressed and what got fixed, per test and per check.

The earlier run is an expectation file (expectations.py) or a results.json, which becomes one through
expectations.from_results: there is one format for what a configuration is known to do.

    python -m toolcall_conformance compare BASELINE RESULTS [--fail-on=regression|any] [--json=OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..jsontext import single_line
from ..judging.verdict import JUDGED, Verdict
from ..settings import FAIL_ON
from .expectations import FORMAT, Change, Expected, compare, from_results, load, parse
from .results import is_generated, is_string_list, load_results, read_json, results_file, valid_results

KINDS = ("regressions", "fixes", "new", "removed", "not_run", "changed")
SHOWN_PER_GROUP = 10


@dataclass(frozen=True)
class Entry:
    """One test that differs from the baseline; `checks` are the check ids the difference is about."""

    test: str
    was: Expected | None
    now: Expected | None
    checks: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"test": self.test, "was": _state(self.was), "now": _state(self.now), "checks": list(self.checks)}


def _state(expected: Expected | None) -> dict[str, Any] | None:
    if expected is None:
        return None
    state: dict[str, Any] = {"verdict": expected.verdict, "checks": sorted(expected.checks)}
    if expected.reason:
        state["reason"] = expected.reason
    return state


@dataclass
class RunDiff:
    """How a run differs from a baseline. A test can be both a regression and a fix (on different checks)."""

    against: str = ""
    regressions: list[Entry] = field(default_factory=list)
    fixes: list[Entry] = field(default_factory=list)
    new: list[Entry] = field(default_factory=list)
    removed: list[Entry] = field(default_factory=list)
    not_run: list[Entry] = field(default_factory=list)
    changed: list[Entry] = field(default_factory=list)
    known_failures: int = 0
    as_expected: int = 0

    def failed(self, fail_on: str = "regression") -> bool:
        """Whether the run should fail: on regressions only, or on any difference but tests not run."""
        if fail_on == "regression":
            return bool(self.regressions)
        if fail_on == "any":
            return bool(self.regressions or self.fixes or self.new or self.removed or self.changed)
        raise ValueError(f"fail_on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")

    def is_empty(self) -> bool:
        """No regression, fix, new, removed or changed test (tests not run do not count)."""
        return not self.failed("any")

    def by_check(self) -> dict[str, dict[str, int]]:
        """Per check id, how many tests regressed and how many got fixed on it."""
        totals: dict[str, dict[str, int]] = {}
        for kind, entries in (("regressions", self.regressions), ("fixes", self.fixes)):
            for entry in entries:
                for check in entry.checks:
                    totals.setdefault(check, {"regressions": 0, "fixes": 0})[kind] += 1
        return dict(sorted(totals.items()))

    def counts(self) -> dict[str, int]:
        listed = {kind: len(getattr(self, kind)) for kind in KINDS}
        return {**listed, "known_failures": self.known_failures, "as_expected": self.as_expected}

    def to_json(self) -> dict[str, Any]:
        """The diff as a JSON document (results.json keeps it under "baseline")."""
        listed = {kind: [entry.to_json() for entry in getattr(self, kind)] for kind in KINDS}
        return {"against": self.against, **listed, "by_check": self.by_check(), "counts": self.counts()}

    def render_text(self, shown_per_group: int = SHOWN_PER_GROUP) -> str:
        """The diff for a terminal: regressions first, grouped by check id."""
        counted = self._counted()
        if self.is_empty():
            return f"against {self.against}: no change ({counted or 'no test in either'})"
        lines = [f"against {self.against}: {self._listed()}" + (f"; {counted}" if counted else "")]
        lines += _section("regressions", self.regressions, _by_check(self.regressions), shown_per_group)
        lines += _section("fixes", self.fixes, _by_check(self.fixes), shown_per_group)
        lines += _section("new", self.new, {"": self.new}, shown_per_group)
        lines += _section("removed", self.removed, {"": self.removed}, shown_per_group)
        lines += _section("changed", self.changed, {"": self.changed}, shown_per_group)
        return "\n".join(lines)

    def _listed(self) -> str:
        kinds = [("regression", self.regressions), ("fix", self.fixes), ("new", self.new)]
        kinds += [("removed", self.removed), ("changed", self.changed)]
        return ", ".join(_count(len(entries), word) for word, entries in kinds if entries)

    def _counted(self) -> str:
        counted = [(self.as_expected, "as expected"), (self.known_failures, "known failure")]
        counted.append((len(self.not_run), Verdict.NOT_RUN.value))
        return ", ".join(_count(number, word) for number, word in counted if number)


def _count(number: int, word: str) -> str:
    plural = {"regression": "regressions", "fix": "fixes", "known failure": "known failures", "test": "tests"}
    return f"{number} {plural.get(word, word) if number != 1 else word}"


def _by_check(entries: list[Entry]) -> dict[str, list[Entry]]:
    """Entries grouped by check id; one without checks (error, timeout, truncated) under its new verdict."""
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        for key in entry.checks or (f"no check judged: {entry.now.verdict if entry.now else 'gone'}",):
            groups.setdefault(key, []).append(entry)
    return dict(sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])))


def _section(title: str, entries: list[Entry], groups: dict[str, list[Entry]], shown: int) -> list[str]:
    if not entries:
        return []
    lines = [f"{title.upper()} ({_count(len(entries), 'test')})"]
    for key, members in groups.items():
        indent = "  "
        if key:
            lines.append(f"  {key} ({len(members)})")
            indent = "    "
        lines += [indent + _line(entry) for entry in members[:shown]]
        if len(members) > shown:
            lines.append(f"{indent}... and {len(members) - shown} more (--json has them all)")
    return lines


def _line(entry: Entry) -> str:
    if entry.now is None:
        return f"{entry.test}: was {_short(entry.was)}"
    if entry.was is None:
        return f"{entry.test}: {_short(entry.now)}"
    if entry.was.verdict == entry.now.verdict:
        return f"{entry.test}: {_short(entry.was)} -> {_short(entry.now)}"
    line = f"{entry.test}: {entry.was.verdict} -> {entry.now.verdict}"
    if entry.now.verdict not in JUDGED and entry.now.reason:
        line += (
            f": {single_line(entry.now.reason, 100)}"  # the note says why nothing was judged (timeout, truncation...)
        )
    return line


def _short(expected: Expected | None) -> str:
    if expected is None:
        return "-"
    return f"{expected.verdict} [{', '.join(sorted(expected.checks))}]" if expected.checks else expected.verdict


# ---------------------------------------------------------------- classifying


def diff(baseline: dict[str, Expected], results: dict[str, Any], against: str = "") -> RunDiff:
    """Classify every test of the baseline and the run, per test id and per check id."""
    now = run_expectations(results)
    generated = {record["test"] for record in results["tests"] if is_generated(record)}
    collected = set(results["collected"]) | set(now) if "collected" in results else set(now)
    # A test is removed when its test function ran without it; a function that did not run at all (a subset
    # of the files, -k, -m) says nothing about its tests.
    functions = {_function_of(test) for test in collected}
    run_diff = RunDiff(against)
    for test in sorted(baseline.keys() | now.keys()):
        removed = test not in collected and (_function_of(test) in functions or "collected" not in results)
        _classify(run_diff, test, baseline.get(test), now.get(test), removed, test in generated)
    return run_diff


def run_expectations(results: dict[str, Any]) -> dict[str, Expected]:
    """What a run concluded, in the terms of an expectation file (from_results); errors keep their note."""
    notes = {record["test"]: record.get("note", "") for record in results["tests"] if record["verdict"] not in JUDGED}
    document = from_results(results, {test: note for test, note in notes.items() if note})
    return parse(document["tests"])


def _function_of(test: str) -> str:
    return test.split("[", 1)[0]


def _classify(
    run_diff: RunDiff, test: str, was: Expected | None, now: Expected | None, removed: bool, generated: bool
) -> None:
    if was is None:
        assert now is not None
        run_diff.new.append(Entry(test, None, now, tuple(sorted(now.checks))))
    elif now is None:
        (run_diff.removed if removed else run_diff.not_run).append(Entry(test, was, None))
    elif now.verdict == Verdict.NOT_RUN:
        run_diff.not_run.append(Entry(test, was, now))
    else:
        _classify_judged(run_diff, test, was, now, generated)


def _classify_judged(run_diff: RunDiff, test: str, was: Expected, now: Expected, generated: bool) -> None:
    change = compare(was, now.verdict, set(now.checks), generated=generated)
    broken, mended = _sorted(now.checks - was.checks), _sorted(was.checks - now.checks)
    if change is Change.REGRESSION:
        run_diff.regressions.append(Entry(test, was, now, broken))
        if mended and now.verdict in JUDGED:
            run_diff.fixes.append(Entry(test, was, now, mended))
    elif change is Change.FIXED or (change is Change.KNOWN_FAILURE and mended):
        run_diff.fixes.append(Entry(test, was, now, mended))
    elif change is Change.KNOWN_FAILURE:
        run_diff.known_failures += 1
    elif change is Change.AS_EXPECTED:
        run_diff.as_expected += 1
    else:
        run_diff.changed.append(Entry(test, was, now, _sorted(was.checks ^ now.checks)))


def _sorted(checks: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(checks))


# ---------------------------------------------------------------- reading inputs


def load_baseline(path: Path) -> dict[str, Expected]:
    """The baseline in an expectation file, a results.json, or a run directory holding one."""
    path = results_file(Path(path))
    document = read_json(path)
    if isinstance(document, dict) and "format" in document:
        return _expectation_file(path, document)
    if isinstance(document, dict) and isinstance(document.get("tests"), list):
        return run_expectations(valid_results(path, document))
    raise ValueError(f"{path}: neither an expectation file ({FORMAT}) nor a results.json")


def _expectation_file(path: Path, document: dict[str, Any]) -> dict[str, Expected]:
    if document["format"] == FORMAT:
        problem = _expectation_problem(document.get("tests"))
        if problem:
            raise ValueError(f"{path}: not a valid expectation file: {problem}")
    return load(path)  # which also rejects another format, naming it


def _expectation_problem(tests: Any) -> str | None:
    if not isinstance(tests, dict):
        return '"tests" is not an object of test ids'
    for test, entry in tests.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("verdict"), str):
            return f"test {test!r} has no verdict"
        if not is_string_list(entry.get("checks", [])):
            return f'test {test!r}: "checks" is not a list of check ids'
    return None


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """Compare a run with a baseline; exit 1 when --fail-on says the run failed, 2 when an input is unusable."""
    parser = argparse.ArgumentParser(prog="python -m toolcall_conformance compare", description=main.__doc__)
    parser.add_argument("baseline", type=Path, help="an expectation file, or an earlier run's results.json or run dir")
    parser.add_argument("results", type=Path, help="this run's results.json or run directory, e.g. reports/latest")
    parser.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default="regression",
        help="exit 1 on regressions only (default), or on any regression, fix, new, removed or changed test",
    )
    parser.add_argument("--json", type=Path, dest="json_out", metavar="OUT", help="also write the diff as JSON")
    args = parser.parse_args(argv)
    try:
        run_diff = diff(load_baseline(args.baseline), load_results(args.results), against=str(args.baseline))
    except ValueError as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return 2
    print(run_diff.render_text())
    if args.json_out:
        try:
            args.json_out.write_text(json.dumps(run_diff.to_json(), indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:
            print(f"compare: cannot write {args.json_out}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    return 1 if run_diff.failed(args.fail_on) else 0
