"""A run that judged little says so: more than --max-unjudged of its tests truncated or inconclusive fails it.

The share is counted by one pure function (reporting/judged.py) from the records, so that the exit status, the
terminal, results.json, summary.md and report.html agree; real runs against the fault server prove the rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from selftests.fault_server import FaultServer
from selftests.suite_run import run_suite
from selftests.test_html_report import document, record
from toolcall_conformance.judging.verdict import NOT_JUDGED, Verdict
from toolcall_conformance.reporting.html_report import render_html
from toolcall_conformance.reporting.judged import UNJUDGED, judged, judged_of
from toolcall_conformance.reporting.summary_md import render_markdown
from toolcall_conformance.settings import MAX_UNJUDGED, OPTIONS_BY_NAME

SEED = "weather-seed and not strict"  # 8 tests: 3 choices x 2 modes, 2 comparisons


def records(**counts: int) -> list[dict[str, Any]]:
    """counts[verdict] records of each verdict ("not_run" for "not run")."""
    return [
        {"test": f"t-{verdict}-{index}", "verdict": verdict.replace("_", " ")}
        for verdict, count in counts.items()
        for index in range(count)
    ]


# ---------------------------------------------------------------- the pure function


def test_the_unjudged_verdicts_are_those_of_not_judged_most_severe_first():
    assert set(UNJUDGED) == {verdict.value for verdict in NOT_JUDGED}
    assert UNJUDGED == ("truncated", "inconclusive")


def test_a_run_without_tests_judged_nothing_and_is_not_too_little():
    share = judged([])
    assert (share.tests, share.unjudged, share.too_little) == (0, 0, False)
    assert judged([], 0.0).too_little is False
    assert share.to_json() == {
        "tests": 0,
        "unjudged": 0,
        "by_verdict": {"truncated": 0, "inconclusive": 0},
        "max_unjudged": MAX_UNJUDGED,
        "too_little": False,
    }


def test_exactly_at_the_threshold_is_not_too_little_one_more_is():
    at = judged(records(**{"pass": 2, "fail": 2, "truncated": 3, "inconclusive": 1}), 0.5)
    assert (at.tests, at.unjudged, at.too_little) == (8, 4, False)
    over = judged(records(**{"pass": 2, "fail": 1, "truncated": 4, "inconclusive": 1}), 0.5)
    assert (over.tests, over.unjudged, over.too_little) == (8, 5, True)
    assert over.by_verdict == {"truncated": 4, "inconclusive": 1}


def test_a_decimal_threshold_is_met_exactly_not_by_rounding():
    assert not judged(records(**{"pass": 43, "truncated": 57}), 0.57).too_little  # 0.57 * 100 is 56.99999...
    assert judged(records(**{"pass": 42, "truncated": 58}), 0.57).too_little


def test_threshold_0_fails_on_any_unjudged_test_and_1_never():
    one = records(**{"pass": 99, "inconclusive": 1})
    assert judged(one, 0.0).too_little
    assert not judged(records(**{"pass": 5}), 0.0).too_little
    everything = records(truncated=10)
    assert judged(everything, 0.999).too_little
    assert not judged(everything, 1.0).too_little


def test_tests_not_run_are_left_out_of_the_count():
    share = judged(records(**{"pass": 1, "truncated": 1, "not_run": 50}), 0.5)
    assert (share.tests, share.unjudged, share.too_little) == (2, 1, False)
    only_not_run = judged(records(not_run=5), 0.0)
    assert (only_not_run.tests, only_not_run.too_little) == (0, False)


def test_failures_errors_and_timeouts_count_as_attempted_not_as_unjudged():
    share = judged(records(**{"fail": 1, "error": 1, "timeout": 1, "warn": 1, "truncated": 3}), 0.5)
    assert (share.tests, share.unjudged, share.too_little) == (7, 3, False)


def test_the_line_names_the_counts_the_verdicts_and_the_threshold():
    over = judged(records(**{"pass": 51, "truncated": 120, "inconclusive": 13}), 0.5)
    assert over.line() == (
        "133 of 184 tests could not be judged (120 truncated, 13 inconclusive), more than --max-unjudged=0.5 allows:"
        " their skips show nothing, so the run fails"
    )
    within = judged(records(**{"pass": 181, "truncated": 3}), 0.5)
    assert within.line() == "3 of 184 tests could not be judged (3 truncated), within --max-unjudged=0.5"


def test_a_document_is_counted_against_the_threshold_it_recorded():
    tests = records(**{"pass": 3, "truncated": 1})
    assert judged_of({"tests": tests}).max_unjudged == MAX_UNJUDGED  # older than the option
    assert judged_of({"tests": tests, "options": {"max_unjudged": 0.1}}).too_little
    recorded = {"tests": tests, "options": {"max_unjudged": 0.9}, "judged": {"max_unjudged": 0.0}}
    assert judged_of(recorded).too_little and judged_of(recorded).max_unjudged == 0.0
    assert judged_of({"tests": tests, "judged": {"max_unjudged": "lots"}}).max_unjudged == MAX_UNJUDGED


def test_the_option_takes_a_share_from_0_to_1():
    parse = OPTIONS_BY_NAME["max_unjudged"].parse
    assert (parse("0"), parse("0.25"), parse("1")) == (0.0, 0.25, 1.0)
    for wrong in ("-0.1", "1.5", "nan", "half"):
        with pytest.raises(ValueError):
            parse(wrong)
    option = OPTIONS_BY_NAME["max_unjudged"]
    assert (option.flag, option.env_var, option.ini_key, option.default) == (
        "--max-unjudged",
        "TCC_MAX_UNJUDGED",
        "tcc_max_unjudged",
        0.5,
    )


# ---------------------------------------------------------------- the reports


def truncated_run(**top: Any) -> dict[str, Any]:
    return document(record("a", "truncated"), record("b", "truncated"), record("c", "pass"), **top)


def test_summary_md_says_too_little_in_a_banner_and_a_failing_headline():
    markdown = render_markdown(truncated_run())
    assert markdown.startswith("### ❌ ")
    assert "> **JUDGED TOO LITTLE**: 2 of 3 tests could not be judged (2 truncated), more than" in markdown
    allowed = render_markdown(truncated_run(options={"max_unjudged": 1.0}))
    assert allowed.startswith("### ✅ ") and "JUDGED TOO LITTLE" not in allowed
    assert "Not judged: 2 of 3 tests could not be judged (2 truncated), within --max-unjudged=1" in allowed
    assert "judged" not in render_markdown(document(record("a"))).lower()


def test_report_html_says_too_little_in_a_banner(tmp_path: Path):
    page = render_html(truncated_run(), tmp_path)
    header = page[: page.index("</header>")]
    assert "<div class='banner unjudged'><b>JUDGED TOO LITTLE</b> 2 of 3 tests could not be judged" in header
    allowed = render_html(truncated_run(options={"max_unjudged": 1.0}), tmp_path)
    header = allowed[: allowed.index("</header>")]
    assert "JUDGED TOO LITTLE" not in header and "<a href='#not-judged'>Not judged</a>: 2 of 3 tests" in header
    quiet = render_html(document(record("a")), tmp_path)
    assert "JUDGED TOO LITTLE" not in quiet and "<a href='#not-judged'>" not in quiet


# ---------------------------------------------------------------- real runs


def run_against(pytester: pytest.Pytester, fault: str, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    with FaultServer(fault) as server:
        result, results = run_suite(pytester, server.base_url, "-k", SEED, *args)
    assert results, result.stdout.str()[-3000:]
    return result, results


def test_a_server_that_truncates_every_answer_fails_the_run(pytester: pytest.Pytester):
    result, results = run_against(pytester, "always-truncate")
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output[-3000:]
    assert {test["verdict"] for test in results["tests"]} == {Verdict.TRUNCATED}
    assert results["judged"] == {
        "tests": 8,
        "unjudged": 8,
        "by_verdict": {"truncated": 8, "inconclusive": 0},
        "max_unjudged": 0.5,
        "too_little": True,
    }
    assert results["exit_status"] == 1
    line = (
        "JUDGED TOO LITTLE: 8 of 8 tests could not be judged (8 truncated), more than --max-unjudged=0.5 allows:"
        " their skips show nothing, so the run fails"
    )
    assert line in output
    run_dir = pytester.path / "reports" / "latest"
    assert "JUDGED TOO LITTLE" in (run_dir / "summary.md").read_text(encoding="utf-8")
    assert "JUDGED TOO LITTLE" in (run_dir / "report.html").read_text(encoding="utf-8")


def test_max_unjudged_1_turns_the_rule_off(pytester: pytest.Pytester):
    result, results = run_against(pytester, "always-truncate", "--max-unjudged=1")
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.OK, output[-3000:]
    assert results["judged"]["too_little"] is False and results["judged"]["max_unjudged"] == 1.0
    assert "JUDGED TOO LITTLE" not in output
    assert "not judged: 8 of 8 tests could not be judged (8 truncated), within --max-unjudged=1" in output


def test_a_correct_server_judges_everything_and_passes(pytester: pytest.Pytester):
    result, results = run_against(pytester, "none")
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.OK, output[-3000:]
    assert results["judged"] == {
        "tests": 8,
        "unjudged": 0,
        "by_verdict": {"truncated": 0, "inconclusive": 0},
        "max_unjudged": 0.5,
        "too_little": False,
    }
    assert "JUDGED TOO LITTLE" not in output and "not judged:" not in output


def test_a_share_outside_0_to_1_is_a_usage_error(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TCC_MAX_UNJUDGED", "1.5")
    result, _ = run_suite(pytester, "http://127.0.0.1:1/v1", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--max-unjudged (from $TCC_MAX_UNJUDGED): must be a share from 0 to 1, got 1.5" in result.stderr.str()
