"""Comparing runs: regressions, fixes (whole and per check), new, removed and deselected tests, bad inputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from selftests.fault_server import FaultServer
from selftests.suite_run import run_suite
from selftests.test_suite_against_faults import EXPECTED as FAULT_CHECKS
from toolcall_conformance.reporting.compare import RunDiff, diff, load_baseline, load_results, main
from toolcall_conformance.reporting.expectations import FORMAT, Expected, from_results

SEED = "weather-seed and not strict"


def record(test: str, verdict: str = "pass", *must: str, note: str = "", should: tuple[str, ...] = ()) -> dict:
    """A results.json record with the given MUST (and SHOULD) checks broken."""
    broken = [(check, "MUST") for check in must] + [(check, "SHOULD") for check in should]
    return {
        "test": test,
        "verdict": verdict,
        "checks": {check: "fail" if level == "MUST" else "warn" for check, level in broken},
        "violations": [{"check": check, "level": level, "message": f"{check} broke"} for check, level in broken],
        "note": note,
    }


def results(*records: dict, collected: list[str] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {"suite": {"name": "toolcall-conformance"}, "tests": list(records)}
    if collected is not None:
        document["collected"] = collected
    return document


def fail(*checks: str) -> Expected:
    return Expected("fail", frozenset(checks))


PASS = Expected("pass")


def summary(run_diff: RunDiff) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """Each listed kind as (test, checks) pairs, empty kinds left out."""
    kinds = ("regressions", "fixes", "new", "removed", "not_run", "changed")
    listed = {kind: [(entry.test, entry.checks) for entry in getattr(run_diff, kind)] for kind in kinds}
    return {kind: entries for kind, entries in listed.items() if entries}


# ---------------------------------------------------------------- classification


@pytest.mark.parametrize("verdict", ["fail", "error", "timeout"])
def test_a_pass_that_now_fails_errors_or_times_out_is_a_regression(verdict: str):
    checks = ("args.schema",) if verdict == "fail" else ()
    for before in (PASS, Expected("warn")):
        run_diff = diff({"t": before}, results(record("t", verdict, *checks)))
        assert summary(run_diff) == {"regressions": [("t", checks)]}


def test_a_known_failure_breaking_another_check_regresses_on_that_check_only():
    run_diff = diff({"t": fail("args.schema")}, results(record("t", "fail", "args.schema", "call.id")))
    assert summary(run_diff) == {"regressions": [("t", ("call.id",))]}
    assert run_diff.by_check() == {"call.id": {"regressions": 1, "fixes": 0}}


def test_a_whole_fix_names_every_check_that_no_longer_breaks():
    run_diff = diff({"t": fail("args.json", "args.schema")}, results(record("t", "pass")))
    assert summary(run_diff) == {"fixes": [("t", ("args.json", "args.schema"))]}


def test_a_partial_fix_names_the_checks_that_no_longer_break():
    run_diff = diff({"t": fail("args.json", "args.schema")}, results(record("t", "fail", "args.schema")))
    assert summary(run_diff) == {"fixes": [("t", ("args.json",))]}
    assert run_diff.known_failures == 0 and not run_diff.failed("regression") and run_diff.failed("any")


def test_one_test_can_regress_on_one_check_and_be_fixed_on_another():
    run_diff = diff({"t": fail("args.json", "args.schema")}, results(record("t", "fail", "args.schema", "call.id")))
    assert summary(run_diff) == {"regressions": [("t", ("call.id",))], "fixes": [("t", ("args.json",))]}
    assert run_diff.by_check() == {
        "args.json": {"regressions": 0, "fixes": 1},
        "call.id": {"regressions": 1, "fixes": 0},
    }


def test_truncated_after_being_judged_is_a_regression_and_truncated_again_is_as_expected():
    baseline = {"a": PASS, "b": fail("args.schema"), "c": Expected("truncated")}
    run = results(*(record(test, "truncated", note="truncated: finish_reason 'length'") for test in "abc"))
    run_diff = diff(baseline, run)
    assert summary(run_diff) == {"regressions": [("a", ()), ("b", ())]}  # a cut-off answer fixes nothing
    assert run_diff.as_expected == 1


def test_new_and_removed_tests_without_a_collected_list():
    run_diff = diff({"gone": PASS, "same": PASS}, results(record("same"), record("added", "fail", "call.id")))
    assert summary(run_diff) == {"new": [("added", ("call.id",))], "removed": [("gone", ())]}
    assert run_diff.as_expected == 1


def test_deselected_tests_are_not_run_and_only_tests_gone_from_a_collected_function_are_removed():
    baseline = {"t[ran]": PASS, "t[deselected]": fail("args.schema"), "t[deleted]": PASS, "other_file[x]": PASS}
    run = results(record("t[ran]"), collected=["t[ran]", "t[deselected]", "t[added-but-not-run]"])
    run_diff = diff(baseline, run)
    assert summary(run_diff) == {
        "removed": [("t[deleted]", ())],
        "not_run": [("other_file[x]", ()), ("t[deselected]", ())],
    }
    assert not run_diff.failed("regression") and run_diff.failed("any")


def test_tests_not_run_after_a_server_death_are_not_run_not_regressions():
    run = results(record("first", "error", note="[transport.broken] reset"), record("rest", "not run"))
    run_diff = diff({"first": PASS, "rest": PASS}, run)
    assert summary(run_diff) == {"regressions": [("first", ())], "not_run": [("rest", ())]}


def test_unchanged_known_failures_and_passes_are_counted_not_listed():
    baseline = {"k": fail("args.schema", "args.json"), "p": PASS, "w": Expected("warn")}
    run = results(record("k", "fail", "args.schema", "args.json"), record("p"), record("w", "warn", should=("x.y",)))
    run_diff = diff(baseline, run)
    assert summary(run_diff) == {}
    assert (run_diff.known_failures, run_diff.as_expected) == (1, 2)
    assert not run_diff.failed("any")


def test_a_verdict_change_that_is_neither_regression_nor_fix_is_changed():
    run_diff = diff({"p": PASS}, results(record("p", "warn", should=("x.y",))))
    assert summary(run_diff) == {"changed": [("p", ())]}
    assert not run_diff.failed("regression") and run_diff.failed("any")


def generated(record_: dict) -> dict:
    """The record of a generated (Hypothesis) test: it carries "generated", what its examples came to."""
    return {**record_, "generated": {"examples": 20, "outcomes": {"fail": 1, "pass": 19}}}


def test_a_generated_test_failing_with_other_checks_is_changed_not_a_regression_or_a_fix():
    """A generated test's checks are its minimal example's: which failing example was reached first is no verdict."""
    baseline = {
        "g[other]": fail("args.schema"),
        "g[fewer]": fail("args.json", "args.schema"),
        "g[same]": fail("args.json"),
        "g[newly]": PASS,
        "curated": fail("args.schema"),
    }
    run = results(
        generated(record("g[other]", "fail", "stream.finish-once")),
        generated(record("g[fewer]", "fail", "args.json")),
        generated(record("g[same]", "fail", "args.json")),
        generated(record("g[newly]", "fail", "args.json")),
        record("curated", "fail", "stream.finish-once"),
    )
    run_diff = diff(baseline, run)
    assert summary(run_diff) == {
        "changed": [("g[fewer]", ("args.schema",)), ("g[other]", ("args.schema", "stream.finish-once"))],
        "regressions": [("curated", ("stream.finish-once",)), ("g[newly]", ("args.json",))],
        "fixes": [("curated", ("args.schema",))],
    }
    assert run_diff.known_failures == 1
    assert "g[other]: fail [args.schema] -> fail [stream.finish-once]" in run_diff.render_text()
    assert run_diff.failed("any") and [entry.test for entry in run_diff.regressions] == ["curated", "g[newly]"]


def test_failing_another_way_is_a_regression():
    baseline = {"f": fail("args.schema"), "e": Expected("error"), "t": Expected("timeout"), "same": Expected("error")}
    run = results(
        record("f", "error"), record("e", "timeout"), record("t", "fail", "args.json"), record("same", "error")
    )
    run_diff = diff(baseline, run)
    assert [entry.test for entry in run_diff.regressions] == ["e", "f", "t"]
    assert run_diff.known_failures == 1


def test_should_level_checks_are_not_compared():
    run_diff = diff({"t": PASS}, results(record("t", "warn", should=("stream.chunk-id",))))
    assert [entry.checks for entry in run_diff.changed] == [()]


def test_fail_on_must_be_known():
    with pytest.raises(ValueError, match="fail_on must be one of regression, any"):
        RunDiff().failed("everything")


# ---------------------------------------------------------------- JSON and text


def test_json_lists_each_kind_with_was_now_and_checks():
    baseline = {"r": PASS, "f": fail("args.schema"), "gone": PASS}
    run = results(record("r", "fail", "call.id"), record("f"), record("n"))
    document = diff(baseline, run, against="base.json").to_json()
    assert set(document) == {
        "against",
        "regressions",
        "fixes",
        "new",
        "removed",
        "not_run",
        "changed",
        "by_check",
        "counts",
    }
    assert document["against"] == "base.json"
    (regression,) = document["regressions"]
    assert regression["test"] == "r" and regression["checks"] == ["call.id"]
    assert regression["was"] == {"verdict": "pass", "checks": []}
    assert regression["now"]["verdict"] == "fail" and regression["now"]["checks"] == ["call.id"]
    assert document["new"][0]["was"] is None and document["removed"][0]["now"] is None
    assert document["by_check"] == {
        "args.schema": {"regressions": 0, "fixes": 1},
        "call.id": {"regressions": 1, "fixes": 0},
    }
    assert document["counts"] == {
        "regressions": 1,
        "fixes": 1,
        "new": 1,
        "removed": 1,
        "not_run": 0,
        "changed": 0,
        "known_failures": 0,
        "as_expected": 0,
    }
    json.dumps(document)


def test_text_of_an_empty_diff_is_one_line():
    text = diff({"t": PASS, "u": PASS}, results(record("t"), collected=["t", "u"]), against="old").render_text()
    assert text == "against old: no change (1 as expected, 1 not run)"


def test_text_lists_regressions_first_grouped_by_check_and_cut_short():
    baseline = {f"t{i:02}": PASS for i in range(12)} | {"fixed": fail("args.schema")}
    run = results(
        *(record(f"t{i:02}", "fail", "call.id", *(["args.json"] if i < 2 else [])) for i in range(12)),
        record("fixed"),
        record("late", "timeout", note="[transport.timeout] no complete response within 1 s"),
    )
    text = diff(baseline | {"late": PASS}, run, against="old").render_text(shown_per_group=3)
    assert text.splitlines() == [
        "against old: 13 regressions, 1 fix",
        "REGRESSIONS (13 tests)",
        "  call.id (12)",
        "    t00: pass -> fail",
        "    t01: pass -> fail",
        "    t02: pass -> fail",
        "    ... and 9 more (--json has them all)",
        "  args.json (2)",
        "    t00: pass -> fail",
        "    t01: pass -> fail",
        "  no check judged: timeout (1)",
        "    late: pass -> timeout: [transport.timeout] no complete response within 1 s",
        "FIXES (1 test)",
        "  args.schema (1)",
        "    fixed: fail -> pass",
    ]


# ---------------------------------------------------------------- inputs


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


def test_the_baseline_can_be_an_expectation_file_a_results_json_or_a_run_directory(tmp_path: Path):
    run = results(record("a", "fail", "args.schema", "call.id"), record("b"), record("c", "warn", should=("x.y",)))
    from_run = load_baseline(write(tmp_path / "results.json", run))
    from_file = load_baseline(write(tmp_path / "expected.json", from_results(run)))
    assert from_run == from_file
    assert {test: (entry.verdict, entry.checks) for test, entry in from_run.items()} == {
        "a": ("fail", frozenset({"args.schema", "call.id"})),
        "b": ("pass", frozenset()),
        "c": ("warn", frozenset()),
    }
    assert load_baseline(tmp_path) == from_run
    assert load_results(tmp_path) == run


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"bad\.json: not JSON \(Expecting property name"),
        ([1, 2], r"bad\.json: neither an expectation file \(toolcall-conformance/expectations/1\) nor a results\.json"),
        ({"format": "other/2", "tests": {}}, r"bad\.json: not an expectation file \(format 'other/2'"),
        (
            {"format": FORMAT, "tests": {"t": {"checks": []}}},
            r"bad\.json: not a valid expectation file: test 't' has no verdict",
        ),
        (
            {"tests": [{"test": "t", "violations": []}]},
            r'bad\.json: not a valid results\.json: tests\[0\] has no "verdict"',
        ),
        ({"tests": [], "collected": "t"}, r'bad\.json: not a valid results\.json: "collected" is not a list'),
    ],
)
def test_an_unusable_baseline_is_a_value_error_naming_the_file(tmp_path: Path, content: Any, message: str):
    with pytest.raises(ValueError, match=message):
        load_baseline(write(tmp_path / "bad.json", content))


def test_a_missing_file_and_a_directory_without_results_are_value_errors(tmp_path: Path):
    with pytest.raises(ValueError, match=r"nowhere\.json: no such file"):
        load_results(tmp_path / "nowhere.json")
    with pytest.raises(ValueError, match=r"results\.json: no such file"):
        load_results(tmp_path)


def test_results_must_be_a_results_json_not_an_expectation_file(tmp_path: Path):
    with pytest.raises(ValueError, match=r'e\.json: not a valid results\.json: no list of "tests"'):
        load_results(write(tmp_path / "e.json", from_results(results(record("t")))))


# ---------------------------------------------------------------- command line


@pytest.fixture
def fixed_and_new(tmp_path: Path) -> tuple[str, str]:
    """A baseline and a run that differ by one fix and one new test, no regression."""
    baseline = write(tmp_path / "base.json", results(record("f", "fail", "args.schema")))
    run = write(tmp_path / "run.json", results(record("f"), record("n")))
    return str(baseline), str(run)


def test_fail_on_regression_passes_a_fix_and_fail_on_any_does_not(fixed_and_new, capsys):
    assert main([*fixed_and_new]) == 0
    assert main([*fixed_and_new, "--fail-on=regression"]) == 0
    assert main([*fixed_and_new, "--fail-on=any"]) == 1
    assert "FIXES (1 test)" in capsys.readouterr().out


def test_a_regression_fails_either_way_and_the_json_is_written(tmp_path: Path, capsys):
    baseline = write(tmp_path / "base.json", results(record("t")))
    run = write(tmp_path / "run.json", results(record("t", "fail", "call.id")))
    out = tmp_path / "diff.json"
    assert main([str(baseline), str(run), f"--json={out}"]) == 1
    assert main([str(baseline), str(run), "--fail-on=any"]) == 1
    assert json.loads(out.read_text())["by_check"] == {"call.id": {"regressions": 1, "fixes": 0}}
    assert capsys.readouterr().out.startswith(f"against {baseline}: 1 regression\nREGRESSIONS (1 test)\n  call.id (1)")


@pytest.mark.parametrize(
    ("baseline", "run", "message"),
    [
        ("missing.json", "run.json", "compare: {tmp}/missing.json: no such file"),
        (
            "garbage.json",
            "run.json",
            "compare: {tmp}/garbage.json: not JSON (Expecting value: line 1 column 1 (char 0))",
        ),
        (
            "run.json",
            "garbage.json",
            "compare: {tmp}/garbage.json: not JSON (Expecting value: line 1 column 1 (char 0))",
        ),
        ("run.json", "list.json", 'compare: {tmp}/list.json: not a valid results.json: no list of "tests"'),
    ],
)
def test_an_unusable_input_exits_2_with_one_line(tmp_path: Path, capsys, baseline: str, run: str, message: str):
    write(tmp_path / "run.json", results(record("t")))
    write(tmp_path / "garbage.json", "<html>")
    write(tmp_path / "list.json", [])
    assert main([str(tmp_path / baseline), str(tmp_path / run)]) == 2
    captured = capsys.readouterr()
    assert captured.err == message.format(tmp=tmp_path) + "\n" and captured.out == ""


def test_an_unwritable_json_output_exits_2(tmp_path: Path, capsys):
    run = str(write(tmp_path / "run.json", results(record("t"))))
    assert main([run, run, f"--json={tmp_path}/no/such/dir/diff.json"]) == 2
    assert capsys.readouterr().err.startswith(f"compare: cannot write {tmp_path}/no/such/dir/diff.json: ")


# ---------------------------------------------------------------- real runs


def test_a_fault_after_a_correct_run_regresses_on_exactly_the_faults_checks(pytester: pytest.Pytester, tmp_path: Path):
    selection, expected = FAULT_CHECKS["missing-id"]
    assert selection == SEED
    with FaultServer("none") as server:
        run_suite(pytester, server.base_url, "-k", SEED)
    baseline = tmp_path / "baseline.json"
    shutil.copy(pytester.path / "reports" / "latest" / "results.json", baseline)
    with FaultServer("missing-id") as server:
        _, document = run_suite(pytester, server.base_url, "-k", SEED)

    run_diff = diff(load_baseline(baseline), document)
    assert {entry.test: set(entry.checks) for entry in run_diff.regressions} == expected
    expectation_file = write(tmp_path / "expected.json", from_results(json.loads(baseline.read_text())))
    assert diff(load_baseline(expectation_file), document).to_json()["by_check"] == run_diff.by_check()
    assert summary(run_diff).keys() == {"regressions"}
    assert run_diff.as_expected == len(document["tests"]) - len(expected)

    command = [sys.executable, "-m", "toolcall_conformance", "compare", str(baseline), "reports/latest"]
    finished = subprocess.run(command, cwd=pytester.path, capture_output=True, text=True, check=False)
    assert finished.returncode == 1, finished.stderr
    lines = finished.stdout.splitlines()
    assert lines[:3] == [f"against {baseline}: 6 regressions; 2 as expected", "REGRESSIONS (6 tests)", "  call.id (6)"]
    assert {"  envelope.schema (3)", "  stream.id-once (3)"} <= set(lines)
