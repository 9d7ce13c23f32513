"""Engine columns of the matrix: llama.cpp's column beside vLLM's, its pair, its job options, its merge, and the
comparison of a column with the checks a committed matrix names as timing-dependent in it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from selftests.test_matrix_merge import _committed, _write_columns
from toolcall_conformance.matrix import cli, merge
from toolcall_conformance.matrix import document as matrix_document
from toolcall_conformance.matrix.columns import LLAMACPP_LABEL, Column, compared_pairs, engine_pairs, plan
from toolcall_conformance.matrix.run import ColumnRun, Status
from toolcall_conformance.target.llamacpp import LLAMACPP_BUILD


def test_llamacpp_adds_one_column_after_vllms_and_is_compared_with_vllms_defaults() -> None:
    columns = plan(["0.31.0", "0.32.0"], ["hermes", "pythonic"], engines=["vllm", "llamacpp"])
    assert [column.label for column in columns] == [
        "0.31.0",
        "0.32.0",
        "0.31.0 pythonic",
        "0.32.0 pythonic",
        LLAMACPP_LABEL,
    ]
    llamacpp = columns[-1]
    assert (llamacpp.engine, llamacpp.release, llamacpp.parser) == ("llamacpp", LLAMACPP_BUILD, "hermes")
    assert engine_pairs(columns) == [(columns[1], llamacpp)]  # the newest release, hermes, vLLM's defaults
    assert (columns[1], llamacpp) in compared_pairs(columns)
    assert not any(llamacpp in pair for pair in compared_pairs(columns) if pair != (columns[1], llamacpp))
    assert plan(["0.32.0"], engines=["llamacpp"]) == [llamacpp]  # without vllm, no release column


def test_the_llamacpp_column_says_its_engine_and_vllms_columns_stay_as_written_before() -> None:
    llamacpp, vllm = plan([], engines=["llamacpp"])[0], plan(["0.32.0"])[0]
    assert llamacpp.to_json()["engine"] == "llamacpp"
    assert "engine" not in vllm.to_json()  # committed matrices from before the second engine read the same


def test_engine_options_are_checked_and_listed_for_a_column_job(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--release", "0.32.0", "--engine", "vllm", "--engine", "llamacpp", "--list"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "--release 0.32.0 --parser hermes --strict-level default --backend auto",
        "--engine llamacpp",
    ]
    assert cli.main(["--engine", "llamacpp", "--parser", "pythonic", "--list"]) == 2
    assert "--parser choose vLLM's columns, and --engine gives no vllm" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.parse(["--engine", "sglang"])
    with pytest.raises(SystemExit):
        cli.parse(["--configurations", "--engine", "llamacpp"])
    with pytest.raises(SystemExit):
        cli.parse(["--engine", "llamacpp", "--", "--target-engine=vllm"])


def _results(tests: dict[str, list[tuple[str, str]]]) -> dict[str, Any]:
    """A results.json: each test with its violations, (check, level); its verdict from them."""
    records = []
    for test, violations in tests.items():
        levels = {level for _, level in violations}
        verdict = "fail" if "MUST" in levels else "warn" if "SHOULD" in levels else "pass"
        records.append(
            {
                "test": test,
                "verdict": verdict,
                "violations": [{"check": check, "level": level, "message": "m"} for check, level in violations],
            }
        )
    return {"target": {"engine_build": LLAMACPP_BUILD}, "totals": {}, "collected": sorted(tests), "tests": records}


CREATED = ("stream.chunk-created", "MUST")
NAMED = ("choice.named-call", "MUST")
REUSE = ("http.connection-reuse", "SHOULD")


def _llamacpp_run(tests: dict[str, list[tuple[str, str]]]) -> ColumnRun:
    column = plan([], engines=["llamacpp"])[0]
    return ColumnRun(column, Status.RAN, results=_results(tests), suite_seconds=1.0, exit_status=1)


COMMITTED = {
    "test_named[a-stream]": [NAMED, CREATED],  # crossed a second in the committed run
    "test_named[b-stream]": [NAMED],
    "test_required[c-stream]": [CREATED],
    "test_required[d-stream]": [],
    "test_required[e-blocking]": [],
}


@pytest.mark.parametrize(
    ("now", "regressed"),
    [
        # Other streams crossed a second this time, or none did: no regression, the defect is recorded.
        ({**COMMITTED, "test_named[b-stream]": [NAMED, CREATED], "test_required[d-stream]": [CREATED]}, False),
        ({**COMMITTED, "test_named[a-stream]": [NAMED], "test_required[c-stream]": []}, False),
        ({**COMMITTED, "test_required[e-blocking]": [REUSE]}, False),  # a SHOULD: a change, never a regression
        # A check that is not timing-dependent still regresses, with or without a timing-dependent one beside it.
        ({**COMMITTED, "test_required[d-stream]": [CREATED, NAMED]}, True),
        ({**COMMITTED, "test_required[c-stream]": [("args.schema", "MUST")]}, True),
    ],
)
def test_a_column_is_compared_without_the_checks_the_committed_matrix_names_timing_dependent_in_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], now: dict[str, list[tuple[str, str]]], regressed: bool
) -> None:
    committed = _committed([_llamacpp_run(COMMITTED)], tmp_path / "committed.json")
    document = json.loads(committed.read_text())
    document["timing_dependent"] = {LLAMACPP_LABEL: {"stream.chunk-created": "each chunk stamped when sent"}}
    committed.write_text(json.dumps(document))
    merged = _write_columns([_llamacpp_run(now)], tmp_path / "artifacts")
    command = ["--merge", str(merged), "--out", str(tmp_path / "out"), "--expect", str(committed)]
    assert cli.main(command) == (1 if regressed else 0), capsys.readouterr().out


def test_without_the_timing_dependent_entry_the_same_run_regresses(tmp_path: Path) -> None:
    committed = _committed([_llamacpp_run(COMMITTED)], tmp_path / "committed.json")
    merged = _write_columns(
        [_llamacpp_run({**COMMITTED, "test_required[d-stream]": [CREATED]})], tmp_path / "artifacts"
    )
    assert cli.main(["--merge", str(merged), "--out", str(tmp_path / "out"), "--expect", str(committed)]) == 1


def test_results_without_checks_judges_each_failure_again_from_the_must_checks_left() -> None:
    results = _results({"a": [CREATED], "b": [CREATED, REUSE], "c": [CREATED, NAMED], "d": [REUSE]})
    left = matrix_document.results_without(results, frozenset({"stream.chunk-created"}))
    assert [(record["test"], record["verdict"]) for record in left["tests"]] == [
        ("a", "pass"),
        ("b", "pass"),
        ("c", "fail"),
        ("d", "warn"),
    ]
    assert results["tests"][0]["verdict"] == "fail"  # the run's own document is left as it was


def test_the_merge_puts_the_llamacpp_column_after_vllms_whatever_order_the_files_come_in(tmp_path: Path) -> None:
    columns = plan(["0.32.0"], engines=["vllm", "llamacpp"])
    runs = [ColumnRun(column, Status.RAN, results=_results({"t": []}), suite_seconds=1.0) for column in columns]
    folder = _write_columns(list(reversed(runs)), tmp_path / "artifacts")
    merged, _ = merge.runs([folder])
    assert [run.column for run in merged] == columns
    assert merge.ordered([Column(label=LLAMACPP_LABEL, release=LLAMACPP_BUILD, engine="llamacpp")]) == columns[1:]


def test_a_llamacpp_column_gets_no_vllm_arguments() -> None:
    from toolcall_conformance.matrix.run import _without_vllm_arguments

    given = ["-m", "stream", "--target-args=--enforce-eager", "--target-args", "--max-model-len 4096", "-x"]
    assert _without_vllm_arguments(given) == ["-m", "stream", "-x"]


def test_only_a_must_check_can_be_named_timing_dependent(tmp_path: Path) -> None:
    committed = _committed([_llamacpp_run(COMMITTED)], tmp_path / "committed.json")
    document = json.loads(committed.read_text())
    document["timing_dependent"] = {LLAMACPP_LABEL: {"http.connection-reuse": "a warning: never a regression"}}
    committed.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"names http\.connection-reuse: only a MUST check can be named"):
        matrix_document.load(committed)


def test_a_warning_beside_a_timing_dependent_failure_is_no_change() -> None:
    """Both sides alike: a committed cell keeps no SHOULD check, so the run's warning beside it is not compared."""
    left = matrix_document.results_without(_results({"a": [CREATED, REUSE], "b": [REUSE]}), frozenset({CREATED[0]}))
    assert [(record["test"], record["verdict"]) for record in left["tests"]] == [("a", "pass"), ("b", "warn")]
