"""The matrix as one JSON document: its columns, each test's verdict per column, and what changed between
compared columns: each pair (reference, column) of columns.compared_pairs, the reference as the baseline of the
column in the baseline diff of compare.py.

    {"format": "toolcall-conformance/matrix/1", "columns": [...], "differences": [...], "by_check": {...},
     "tests": {TEST: {LABEL: {"verdict": ..., "checks": [...]}}}}

A committed matrix may name, per column, checks whose verdicts depend on timing there ("timing_dependent":
{LABEL: {CHECK: WHY}}, found by running the column again; e.g. a server that stamps each stream chunk with the
second it is sent fails stream.chunk-created only in streams that cross a second). A run compared with it
(--expect) is compared without those checks in that column, on both sides: the defect is recorded, and a run
that happens to meet it in other tests is no regression. Only MUST checks can be named. --save writes no such
entry: it is added to a committed matrix by hand, with the evidence of the runs that found it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..judging.catalogue import all_checks
from ..judging.verdict import FAILED, Level, Verdict
from ..reporting.compare import RunDiff, diff, run_expectations
from ..reporting.expectations import Expected
from .columns import Column, compared_pairs
from .run import ColumnRun, Status

FORMAT = "toolcall-conformance/matrix/1"


def build(runs: Sequence[ColumnRun], *, started: str, wall_seconds: float, command: str, out: Path) -> dict[str, Any]:
    """The matrix document of a set of column runs (in column order)."""
    by_label = {run.column.label: run for run in runs}
    expectations = {run.column.label: verdicts for run in runs if (verdicts := verdicts_of(run)) is not None}
    differences = []
    for before, after in compared_pairs([run.column for run in runs]):
        differences.append(_difference(by_label[before.label], by_label[after.label], expectations))
    tests: dict[str, dict[str, Any]] = {}
    for label, expected in expectations.items():
        for test, state in expected.items():
            tests.setdefault(test, {})[label] = _cell(state)
    return {
        "format": FORMAT,
        "started": started,
        "wall_seconds": round(wall_seconds, 1),
        "command": command,
        "columns": [_column_entry(run, out) for run in runs],
        "differences": differences,
        "by_check": by_check(tests, [run.column.label for run in runs]),
        "tests": dict(sorted(tests.items())),
    }


def _complete(run: ColumnRun) -> bool:
    return run.status == Status.RAN and run.results is not None


def verdicts_of(run: ColumnRun) -> dict[str, Expected] | None:
    """A column's verdicts as expectations; None unless it ran to its end (a cut-short one's stay in its folder)."""
    return run_expectations(run.results) if _complete(run) and run.results is not None else None


def cells_of(run: ColumnRun) -> dict[str, dict[str, Any]]:
    """A column's cells as matrix.json's "tests" hold them: none unless it ran to its end."""
    return {test: _cell(state) for test, state in (verdicts_of(run) or {}).items()}


def _column_entry(run: ColumnRun, out: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {**run.column.to_json(), "status": str(run.status)}
    if run.reason:
        entry["reason"] = run.reason
    if run.column.release:
        entry["install_seconds"] = round(run.install_seconds, 1)
    entry["suite_seconds"] = round(run.suite_seconds, 1)
    if run.results is not None:
        target = run.results.get("target", {})
        entry["server_version"] = target.get("server_version")
        if target.get("engine_build"):  # llama.cpp's server reports no version; its build is the wheel's
            entry["engine_build"] = target["engine_build"]
        if target.get("packages"):
            entry["packages"] = target["packages"]
        entry["startup_seconds"] = target.get("startup_seconds")
        entry["exit_status"] = run.exit_status
        entry["totals"] = run.results.get("totals", {})
        if run.results_path is not None:
            entry["results"] = os.path.relpath(run.results_path, out)
    return entry


def _cell(state: Expected) -> dict[str, Any]:
    """A test's cell of one column: its verdict, and the checks it failed when there are any."""
    cell: dict[str, Any] = {"verdict": state.verdict}
    if state.checks:
        cell["checks"] = sorted(state.checks)
    return cell


def _difference(before: ColumnRun, after: ColumnRun, expectations: dict[str, dict[str, Expected]]) -> dict[str, Any]:
    pair = {"from": before.column.label, "to": after.column.label}
    missing = [run for run in (before, after) if not _complete(run)]
    if missing:
        why = "; ".join(f"{run.column.label} {run.status}" for run in missing)
        return {**pair, "compared": False, "why": why}
    assert after.results is not None
    run_diff = diff(expectations[before.column.label], after.results, against=before.column.label)
    return {**pair, "compared": True, **run_diff.to_json()}


def by_check(tests: dict[str, dict[str, Any]], labels: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per check id, in how many tests of each column it failed (columns where it never failed left out)."""
    counts: dict[str, dict[str, int]] = {}
    for cells in tests.values():
        for label, cell in cells.items():
            if cell["verdict"] in FAILED:
                for check in cell.get("checks", ()):
                    per_column = counts.setdefault(check, {})
                    per_column[label] = per_column.get(label, 0) + 1
    order = {label: index for index, label in enumerate(labels)}
    return {
        check: dict(sorted(c.items(), key=lambda item: order.get(item[0], 0))) for check, c in sorted(counts.items())
    }


# ---------------------------------------------------------------- a matrix against a committed one


def load(path: Path) -> dict[str, Any]:
    """A matrix document; ValueError naming the file when it is none."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read a matrix document: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"{path}: not a matrix document (format {FORMAT})")
    columns, tests = document.get("columns"), document.get("tests")
    if not isinstance(columns, list) or not all(
        isinstance(column, dict) and isinstance(column.get("label"), str) and isinstance(column.get("status"), str)
        for column in columns
    ):
        raise ValueError(f"{path}: a matrix document needs 'columns', each with a 'label' and a 'status'")
    if not isinstance(tests, dict) or not all(isinstance(cells, dict) for cells in tests.values()):
        raise ValueError(f"{path}: a matrix document needs 'tests': {{test: {{column: cell}}}}")
    if not isinstance(document.get("differences"), list) or not isinstance(document.get("by_check"), dict):
        raise ValueError(f"{path}: a matrix document needs 'differences' (a list) and 'by_check'")
    timing = document.get("timing_dependent") or {}
    if not isinstance(timing, dict) or not all(isinstance(checks, dict) for checks in timing.values()):
        raise ValueError(f"{path}: 'timing_dependent' is {{column: {{check: why}}}}")
    for label in timing:
        try:
            timing_dependent(document, label)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    return document


def for_elsewhere(document: dict[str, Any]) -> dict[str, Any]:
    """The document without what only makes sense beside its --out folder (each column's results path)."""
    columns = [{key: value for key, value in column.items() if key != "results"} for column in document["columns"]]
    return {**document, "columns": columns}


def expected_column(document: dict[str, Any], label: str) -> dict[str, Expected] | None:
    """A committed matrix's verdicts for one column, as expectations; None when it has no such column."""
    if not any(column["label"] == label for column in document["columns"]):
        return None
    return {
        test: Expected(cells[label]["verdict"], frozenset(cells[label].get("checks", ())))
        for test, cells in document["tests"].items()
        if label in cells
    }


@dataclass(frozen=True)
class StatusAgainst:
    """A column that cannot be diffed with its committed self, because one of the two did not run; and why."""

    said: str
    # "regressed": it ran there and no longer does; "changed": another status, or it runs now where it did not
    # (a fix); "same": it did not run there either, the same way (known, reported, never a failure).
    change: str

    def failed(self, fail_on: str) -> bool:
        """Whether it fails a run judged with --fail-on fail_on, as a RunDiff's failed() does for verdicts."""
        return self.change == "regressed" or (fail_on == "any" and self.change == "changed")


def against_expected(
    runs: Sequence[ColumnRun], expected: dict[str, Any], name: str
) -> list[tuple[Column, RunDiff | StatusAgainst]]:
    """Each column that the committed matrix has too: its diff against it, or how their statuses compare."""
    statuses = {column["label"]: column for column in expected["columns"]}
    compared: list[tuple[Column, RunDiff | StatusAgainst]] = []
    for run in runs:
        label = run.column.label
        if label not in statuses:
            continue
        baseline = expected_column(expected, label)
        if _complete(run) and statuses[label]["status"] == Status.RAN and baseline is not None:
            assert run.results is not None
            results, timing = run.results, timing_dependent(expected, label)
            if timing:
                baseline = {test: _expected_without(state, timing) for test, state in baseline.items()}
                results = results_without(results, timing)
            compared.append((run.column, diff(baseline, results, against=f"{name} [{label}]")))
        else:
            compared.append((run.column, _status_against(run, statuses[label]["status"], name)))
    return compared


def _status_against(run: ColumnRun, was: str, name: str) -> StatusAgainst:
    reason = f": {run.reason}" if run.reason else ""
    if was == run.status != Status.RAN:
        return StatusAgainst(f"{run.status} here and in {name}{reason}", "same")
    if was == run.status:  # ran, yet its document holds no verdicts (a merged column.json without results)
        return StatusAgainst(f"ran here and in {name}, but no verdicts of it are here to compare", "regressed")
    change = "regressed" if was == Status.RAN else "changed"
    return StatusAgainst(f"{was} in {name}, {run.status} now{reason}", change)


def missing_columns(runs: Sequence[ColumnRun], expected: dict[str, Any]) -> list[str]:
    """The labels of the committed matrix's columns that none of the runs is, in the committed order."""
    present = {run.column.label for run in runs}
    return [column["label"] for column in expected["columns"] if column["label"] not in present]


def column_failed(run: ColumnRun) -> bool:
    """Whether a column got no verdicts of its own (its install, start or run broke)."""
    return run.status != Status.RAN


def timing_dependent(expected: dict[str, Any], label: str) -> frozenset[str]:
    """The checks a committed matrix names as timing-dependent in a column; ValueError for one that is no MUST.

    Committed cells keep only a failure's MUST checks, so only a MUST check can be taken out of both sides alike
    (and a SHOULD's warning never counts as a regression anyway)."""
    named = frozenset((expected.get("timing_dependent") or {}).get(label, {}))
    registered = all_checks()
    lenient = sorted(check for check in named if check not in registered or registered[check].level != Level.MUST)
    if lenient:
        raise ValueError(f"timing_dependent of {label!r} names {', '.join(lenient)}: only a MUST check can be named")
    return named


def _expected_without(state: Expected, checks: frozenset[str]) -> Expected:
    """A committed verdict as if those checks had not been run: a failure with no other check is a pass."""
    if state.verdict not in FAILED or not state.checks & checks:
        return state
    remaining = state.checks - checks
    return Expected(state.verdict, remaining, state.reason) if remaining else Expected(Verdict.PASS.value)


def results_without(results: dict[str, Any], checks: frozenset[str]) -> dict[str, Any]:
    """A results document as the committed side sees it without those MUST checks: a failure that breaks no other
    MUST check is a pass (a committed cell keeps no SHOULD check, so a warning beside it is not known there)."""
    tests = []
    for record in results["tests"]:
        violations = record.get("violations") or []
        kept = [violation for violation in violations if violation["check"] not in checks]
        if record["verdict"] == Verdict.FAIL.value and len(kept) != len(violations):
            failing = any(violation["level"] == Level.MUST for violation in kept)
            record = {**record, "verdict": (Verdict.FAIL if failing else Verdict.PASS).value, "violations": kept}
        tests.append(record)
    return {**results, "tests": tests}
